"""Versions of the indicator catalogue that values have been collected under."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow


class CatalogueVersion(Base):
    """One loaded version of ``catalogue.yaml``: its number and the SHA-256 of its bytes.

    A number is bound to one content for ever, so ``IndicatorValue.catalogue_version`` always says
    which definitions (unit, range, code table) a value was collected under.
    """

    __tablename__ = "catalogue_versions"

    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    indicator_count: Mapped[int] = mapped_column(sa.Integer)
    loaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
