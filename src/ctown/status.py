"""``ctown status``: counts only, so that two identical loads print identical output."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.capabilities import CAPABILITIES, optional_module
from ctown.registry.models import ChangeEvent, Region, Subject


def collect(session: Session) -> dict[str, int]:
    counts: dict[str, int] = {
        f"subjects.{kind}": n for kind, n in session.execute(
            sa.select(Subject.kind, sa.func.count()).group_by(Subject.kind))}
    for kind in ("household", "person", "entity", "collective"):
        counts.setdefault(f"subjects.{kind}", 0)
    counts["subjects.total"] = sum(counts.values())
    for level, n in session.execute(
            sa.select(Region.level, sa.func.count()).group_by(Region.level)):
        counts[f"regions.{level}"] = n
    counts["registry.change_events"] = session.scalar(
        sa.select(sa.func.count()).select_from(ChangeEvent)) or 0
    counts["accounts.users"] = session.scalar(sa.select(sa.func.count()).select_from(User)) or 0
    for cap in CAPABILITIES:
        mod = optional_module(cap, "status")
        if mod is not None:
            counts.update(mod.counts(session))
    return counts
