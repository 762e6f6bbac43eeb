"""Counts for ``ctown status --json``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerLog


def counts(session: Session) -> dict[str, int]:
    size = session.scalar(sa.select(LedgerLog.size)) or 0
    out = {"ledger.leaves": int(size),
           "ledger.checkpoints": int(session.scalar(
               sa.select(sa.func.count()).select_from(LedgerCheckpoint)) or 0)}
    rows = session.execute(sa.select(LedgerEntry.kind, sa.func.sum(LedgerEntry.count))
                           .group_by(LedgerEntry.kind).order_by(LedgerEntry.kind))
    out.update({f"ledger.leaves.{kind}": int(total or 0) for kind, total in rows})
    return out
