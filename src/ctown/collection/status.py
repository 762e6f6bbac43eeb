"""Counts for ``ctown status --json`` (counts only: deterministic)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.collection.models import CollectionBatch, Terminal, UploadLog


def counts(session: Session) -> dict[str, int]:
    terminals, revoked = session.execute(sa.select(
        sa.func.count(), sa.func.count(Terminal.revoked_at))).one()
    batches, accepted, rejected = session.execute(sa.select(
        sa.func.count(), sa.func.coalesce(sa.func.sum(CollectionBatch.accepted), 0),
        sa.func.coalesce(sa.func.sum(CollectionBatch.rejected), 0))).one()
    refusals = session.scalar(sa.select(sa.func.count()).select_from(UploadLog)
                              .where(UploadLog.outcome == "refused")) or 0
    return {"collection.terminals": terminals, "collection.terminals_revoked": revoked,
            "collection.batches": batches, "collection.records_accepted": int(accepted),
            "collection.records_rejected": int(rejected), "collection.refusals": refusals}
