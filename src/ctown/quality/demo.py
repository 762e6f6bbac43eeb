"""Demo: one health probe, so that the stability rate has a system check beside the batches."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.quality.models import HealthProbe
from ctown.quality.service import probe_database
from ctown.settings import Settings


def build(session: Session, settings: Settings, workdir: Path) -> None:
    if session.scalar(sa.select(HealthProbe.id).limit(1)) is None:
        probe_database(session)
