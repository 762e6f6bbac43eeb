"""Counts of the county's configuration for ``ctown status --json``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.config.models import ConfigProposal, ConfigVersion


def counts(session: Session) -> dict[str, int]:
    live = session.scalar(sa.select(sa.func.max(ConfigVersion.version)))
    pending = session.scalar(sa.select(sa.func.count()).select_from(ConfigProposal)
                             .where(ConfigProposal.status == "pending"))
    return {"config.live_version": int(live or 0), "config.pending": int(pending or 0)}
