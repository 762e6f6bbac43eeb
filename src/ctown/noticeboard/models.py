"""Tables of the village notice board (信用公示栏): its editions and the households' separate
consents to be named on it (个人信息保护法 art. 25)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

import ctown.accounts.models
import ctown.registry.models  # noqa: F401  (the tables the foreign keys name)
from ctown.db import Base, UTCDateTime, utcnow


class NoticeEdition(Base):
    """One edition of a village's notice board (公示期次), kept for good and on the ledger.

    ``pdf`` holds the printed A3 file itself; ``pdf_sha256`` (on the ledger) lets anyone check a
    board on the wall against the platform. ``content`` is what was published (aggregates, the
    masked names and grades, the objection period) — what the public page shows; ``named_ids``
    the households named, so that a withdrawn consent takes the edition off the public page's
    download until the next one.
    """

    __tablename__ = "notice_editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    #: The month published (公示期), "2026-12".
    period: Mapped[str] = mapped_column(sa.String(7))
    built_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    built_by_id: Mapped[int | None] = mapped_column(sa.Integer)
    #: Last day (China) on which an objection to this edition is taken (异议期).
    objection_until: Mapped[dt.date] = mapped_column(sa.Date)
    households: Mapped[int] = mapped_column(sa.Integer)
    named: Mapped[int] = mapped_column(sa.Integer)
    content_sha256: Mapped[str] = mapped_column(sa.String(64))
    pdf_sha256: Mapped[str] = mapped_column(sa.String(64))
    pdf_bytes: Mapped[int] = mapped_column(sa.Integer)
    content: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    named_ids: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    pdf: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)

    __table_args__ = (sa.Index("ix_notice_editions_village_period", "village_code", "period"),)


class PublicationConsent(Base):
    """A household's separate consent to be named on its village's notice board (公示授权), with
    its grade only and the name masked. Revocable; history kept (a revoked row stays, a new
    consent is a new row); every grant and withdrawal is also an audit event.

    ``form_no`` is the signed paper form's number when the village officer records it.
    """

    __tablename__ = "notice_publication_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    granted_by_id: Mapped[int | None] = mapped_column(sa.Integer)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    form_no: Mapped[str | None] = mapped_column(sa.String(40))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(sa.Integer)
