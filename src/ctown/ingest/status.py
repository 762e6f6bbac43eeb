"""Counts for ``ctown status --json`` (counts only, deterministic: no times, no ids)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.ingest.models import (
    Batch,
    CurrentValue,
    HeldValue,
    IndicatorValue,
    PendingMatch,
    QuarantinedRow,
)


def _count(session: Session, model: type, *where: sa.ColumnElement[bool]) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def counts(session: Session) -> dict[str, int]:
    return {
        "ingest.batches": _count(session, Batch, Batch.status == "done"),
        "ingest.batches_failed": _count(session, Batch, Batch.status == "failed"),
        "ingest.indicator_values": _count(session, IndicatorValue),
        "ingest.current_values": _count(session, CurrentValue),
        "ingest.quarantined_rows": _count(session, QuarantinedRow,
                                          QuarantinedRow.status.in_(("open", "held"))),
        "ingest.pending_matches": _count(session, PendingMatch, PendingMatch.status == "pending"),
        # Values waiting for the household's collection consent (授权暂存).
        "ingest.held_values": _count(session, HeldValue),
    }
