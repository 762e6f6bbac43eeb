"""What privacy puts on the tamper-evident ledger: the audit trail (sensitive actions, consents
granted and revoked, objections and complaints) and every credit-report query."""

from __future__ import annotations

import sqlalchemy as sa

from ctown.ledger.sources import Source
from ctown.privacy.models import AuditEvent, CreditQuery


def _table(model: type) -> sa.Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, sa.Table)
    return table


def ledger_sources() -> list[Source]:
    return [
        Source("audit", _table(AuditEvent), "id",
               ("id", "at", "actor_id", "actor_role", "action", "target", "detail")),
        Source("credit_query", _table(CreditQuery), "id",
               ("id", "at", "subject_id", "actor_id", "actor_name", "institution", "purpose",
                "outcome", "consent_id")),
    ]
