"""Health probes (系统运行稳定率): each check of the running platform, for the stability rate."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow


class HealthProbe(Base):
    __tablename__ = "quality_probes"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    component: Mapped[str] = mapped_column(sa.String(40))
    ok: Mapped[bool] = mapped_column(sa.Boolean)
    latency_ms: Mapped[int | None] = mapped_column(sa.Integer)
    detail: Mapped[str | None] = mapped_column(sa.String(200))
