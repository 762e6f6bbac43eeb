"""Counts for ``ctown status --json``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.privacy.models import (
    AuditEvent,
    Complaint,
    Consent,
    CreditQuery,
    NegativeNotice,
    Objection,
)


def _count(session: Session, model: type, *where: sa.ColumnElement[bool]) -> int:
    stmt = sa.select(sa.func.count()).select_from(model)
    return int(session.scalar(stmt.where(*where) if where else stmt) or 0)


def counts(session: Session) -> dict[str, int]:
    return {
        "privacy.consents": _count(session, Consent),
        "privacy.consents.revoked": _count(session, Consent, Consent.revoked_at.is_not(None)),
        "privacy.queries": _count(session, CreditQuery),
        "privacy.queries.refused": _count(session, CreditQuery, CreditQuery.outcome == "refused"),
        "privacy.negative_notices": _count(session, NegativeNotice),
        "privacy.objections.open": _count(session, Objection, Objection.status == "open"),
        "privacy.complaints.open": _count(session, Complaint, Complaint.status == "open"),
        "privacy.audit_events": _count(session, AuditEvent),
    }
