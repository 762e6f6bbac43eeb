"""Counts of the catalogue for ``ctown status --json``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.catalogue.models import CatalogueVersion
from ctown.catalogue.service import load_catalogue


def counts(session: Session) -> dict[str, int]:
    catalogue = load_catalogue()
    registered = session.scalar(sa.select(sa.func.count()).select_from(CatalogueVersion)) or 0
    return {"catalogue.version": catalogue.version,
            "catalogue.indicators": len(catalogue.indicators),
            "catalogue.versions_registered": int(registered)}
