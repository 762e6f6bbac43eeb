"""Counts for ``ctown status --json`` (deterministic: counts only)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.notify.models import Notification
from ctown.notify.optout import OPTED_OUT


def counts(session: Session) -> dict[str, int]:
    n = Notification
    unsent = n.sent_at.is_(None)
    declined = sa.and_(unsent, sa.func.coalesce(n.last_error, "") == OPTED_OUT)
    total, sent, waiting, failed, opted_out = session.execute(sa.select(
        sa.func.count(),
        sa.func.count(n.sent_at),
        sa.func.count(sa.case((sa.and_(unsent, n.failed_at.is_(None)), 1))),
        sa.func.count(sa.case((sa.and_(unsent, n.failed_at.is_not(None), ~declined), 1))),
        sa.func.count(sa.case((declined, 1))),
    )).one()
    return {"notify.notices": int(total), "notify.sent": int(sent),
            "notify.waiting": int(waiting), "notify.failed": int(failed),
            "notify.opted_out": int(opted_out)}
