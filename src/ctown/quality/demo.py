"""Demo: one health probe, so that the stability rate has a system check beside the batches."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.capabilities import DemoContext
from ctown.quality.models import HealthProbe
from ctown.quality.service import probe_database


def build(session: Session, ctx: DemoContext) -> None:
    if session.scalar(sa.select(HealthProbe.id).limit(1)) is None:
        probe_database(session)
