"""Counts of the feedback queue for ``ctown status --json``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.feedback.models import Feedback


def counts(session: Session) -> dict[str, int]:
    def n(*where: sa.ColumnElement[bool]) -> int:
        return session.scalar(sa.select(sa.func.count()).select_from(Feedback).where(*where)) or 0

    return {"feedback.items": n(), "feedback.open": n(Feedback.status == "received"),
            "feedback.escalated": n(Feedback.escalation_level > 0)}
