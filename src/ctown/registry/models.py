"""Tables of the registry: regions (行政区划), subjects (主体) and their change events."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ctown.db import Base, UTCDateTime, utcnow

SUBJECT_KINDS = ("household", "person", "entity", "collective")
ENTITY_TYPES = ("family_farm", "cooperative", "leading_enterprise")


class Region(Base):
    """County → township → village, keyed by the 12-digit statistical division code (统计用区划代码)."""

    __tablename__ = "regions"

    code: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str | None] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(10))
    parent_code: Mapped[str | None] = mapped_column(sa.ForeignKey("regions.code"), index=True)

    __table_args__ = (
        sa.CheckConstraint("level IN ('county', 'township', 'village')", name="level"),
    )


class Subject(Base):
    """A rated subject: household (农户), person (个人), entity (新型农业经营主体) or village
    collective (村集体). One table for all kinds, so credit files and scoring partition by id."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    household_no: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    relation: Mapped[str | None] = mapped_column(sa.String(20))
    gender: Mapped[str | None] = mapped_column(sa.String(1))
    birth_date: Mapped[dt.date | None] = mapped_column(sa.Date)
    entity_type: Mapped[str | None] = mapped_column(sa.String(24))
    # Unified social credit codes are public registration data, kept in clear.
    credit_code: Mapped[str | None] = mapped_column(sa.String(18), unique=True)
    id_cipher: Mapped[str | None] = mapped_column(sa.Text)
    id_index: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    phone_cipher: Mapped[str | None] = mapped_column(sa.Text)
    phone_index: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    region: Mapped[Region] = relationship(lazy="joined")
    members: Mapped[list[Subject]] = relationship(
        back_populates="household", order_by="Subject.id", lazy="selectin")
    household: Mapped[Subject | None] = relationship(back_populates="members", remote_side=[id])

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('household', 'person', 'entity', 'collective')", name="kind"),
        sa.Index("ix_subjects_kind_region", "kind", "region_code"),
    )


class ChangeEvent(Base):
    """Append-only record of every change to a subject's data (what, who, when, from which source).

    The payload never holds a clear identifier: encrypted fields appear as their blind index.
    ``digest`` is the SHA-256 of the canonical event, the leaf the tamper-evident ledger commits to.
    """

    __tablename__ = "change_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)
    source: Mapped[str] = mapped_column(sa.String(120))
    action: Mapped[str] = mapped_column(sa.String(20))
    entity: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    digest: Mapped[str] = mapped_column(sa.String(64))
