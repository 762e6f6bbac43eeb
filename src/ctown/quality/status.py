"""Counts for ``ctown status --json`` (counts only: deterministic)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.quality.models import HealthProbe


def counts(session: Session) -> dict[str, int]:
    total, failed = session.execute(sa.select(
        sa.func.count(), sa.func.count().filter(HealthProbe.ok.is_(False)))).one()
    return {"quality.probes": total, "quality.probes_failed": failed}
