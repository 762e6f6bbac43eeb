"""The audit trail (审计日志), a foundation below every capability: a sensitive action is recorded
in the same transaction as the change it describes; the trail goes on the tamper-evident ledger
(privacy declares it a ledger source) and is read by the county, the assessor and the privacy
officer (:func:`ctown.privacy.service.audit_events`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.db import utcnow
from ctown.privacy.models import AuditEvent


def audit(session: Session, actor: User | None, action: str, target: str,
          **detail: Any) -> AuditEvent:
    """Record a sensitive action; never put a clear identifier in ``detail``."""
    event = AuditEvent(actor_id=actor.id if actor else None,
                       actor_role=actor.role if actor else None, action=action,
                       target=target[:200], detail=detail, at=utcnow())
    session.add(event)
    session.flush()
    return event
