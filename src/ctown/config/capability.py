"""The county's configuration (县级配置) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, LedgerSource

CAPABILITY = Capability(
    name="config",
    models="ctown.config.models",
    api="ctown.config.api:router",
    pages="ctown.config.views:router",
    nav="ctown.config.views:NAV",
    cli="ctown.config.cli:register",
    install="ctown.config.setup:install",
    demo="ctown.config.demo:build",
    status="ctown.config.status:counts",
    ledger=(
        # Every live version with every file it held (content and SHA-256), who proposed and
        # who approved it: all written once (the proposals, whose status changes, are not here).
        LedgerSource("config_version", "ctown.config.models:ConfigVersion",
                     ("id", "version", "files", "sha256", "proposal_id", "bank_code", "note",
                      "rollback_of", "proposed_by_id", "approved_by_id", "proposed_at",
                      "approved_at")),
    ),
)
