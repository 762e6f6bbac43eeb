"""Counts for ``ctown status --json`` (counts only: deterministic)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.registry.models import ChangeEvent, Region, Subject

KINDS = ("household", "person", "entity", "collective")


def counts(session: Session) -> dict[str, int]:
    out: dict[str, int] = {f"subjects.{kind}": 0 for kind in KINDS}
    out.update({f"subjects.{kind}": n for kind, n in session.execute(
        sa.select(Subject.kind, sa.func.count()).group_by(Subject.kind))})
    out["subjects.total"] = sum(out.values())
    for level, n in session.execute(
            sa.select(Region.level, sa.func.count()).group_by(Region.level)):
        out[f"regions.{level}"] = n
    out["registry.change_events"] = session.scalar(
        sa.select(sa.func.count()).select_from(ChangeEvent)) or 0
    return out
