"""Registry (主体登记) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, EncryptedColumns, LedgerSource

CAPABILITY = Capability(
    name="registry",
    models="ctown.registry.models",
    api="ctown.registry.api:router",
    pages="ctown.registry.views:router",
    status="ctown.registry.status:counts",
    ledger=(
        # Every change of a subject or of its credit file (the registry's append-only events).
        LedgerSource("change_event", "ctown.registry.models:ChangeEvent",
                     ("id", "occurred_at", "subject_id", "actor_id", "source", "action",
                      "entity", "payload", "digest")),
    ),
    encrypted=(
        # Resident IDs and phone numbers, bound to the row's blind index.
        EncryptedColumns("ctown.registry.models:Subject", ("id_cipher", "phone_cipher"),
                         "ctown.registry.service:subject_row_aad", ("id_index",)),
    ),
)
