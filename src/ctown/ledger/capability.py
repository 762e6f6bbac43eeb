"""The tamper-evident ledger (区块链存证) in the capability contract (:mod:`ctown.capabilities`).

It declares no source of its own: it commits to what every other capability declares.
"""

from ctown.capabilities import Capability, Job

CAPABILITY = Capability(
    name="ledger",
    models="ctown.ledger.models",
    api="ctown.ledger.api:router",
    cli="ctown.ledger.cli:register",
    install="ctown.ledger.keeping:install_app",
    demo="ctown.ledger.demo:build",
    status="ctown.ledger.status:counts",
    jobs=(
        Job("ledger checkpoint", "every 5 minutes", "ctown.ledger.cli:checkpoint_cmd",
            "append pending records to the tamper-evident log and sign a checkpoint"),
        Job("ledger verify", "daily", "ctown.ledger.cli:verify_cmd",
            "recompute the log; exit non-zero names altered rows", args="--json"),
    ),
)
