"""Tables of the collection points: terminals, accepted batches, the log of every upload."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow


class Terminal(Base):
    """A collection terminal (采集终端) and its Ed25519 public key, registered with the county.

    The id is derived from the key (``protocol.terminal_id_for``), so a key cannot be registered
    twice under two names. A revoked terminal stays in the table: its past batches keep a signer.
    """

    __tablename__ = "collection_terminals"

    id: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    village_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    public_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    enrolled_via: Mapped[str] = mapped_column(sa.String(10))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    registered_by: Mapped[int | None] = mapped_column(sa.Integer)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by: Mapped[int | None] = mapped_column(sa.Integer)
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(200))
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("enrolled_via IN ('cli', 'web', 'admin', 'demo')", name="enrolled_via"),
    )


class CollectionBatch(Base):
    """A batch accepted from a terminal. The unique keys make acceptance happen exactly once."""

    __tablename__ = "collection_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    terminal_id: Mapped[str] = mapped_column(sa.ForeignKey("collection_terminals.id"), index=True)
    batch_id: Mapped[str] = mapped_column(sa.String(64))
    nonce: Mapped[str] = mapped_column(sa.String(24), unique=True)
    envelope_sha256: Mapped[str] = mapped_column(sa.String(64))
    village_code: Mapped[str] = mapped_column(sa.String(12), index=True)
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    records: Mapped[int] = mapped_column(sa.Integer)
    accepted: Mapped[int] = mapped_column(sa.Integer)
    rejected: Mapped[int] = mapped_column(sa.Integer)
    #: The credit-file batch (``ingest.models.Batch``) the accepted records went into.
    credit_batch_id: Mapped[int | None] = mapped_column(sa.Integer)
    officers: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    #: ``[{"row": n, "indicator": code, "reason": {"zh": …, "en": …}}]`` — never a clear identifier.
    rejections: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)

    __table_args__ = (sa.UniqueConstraint("terminal_id", "batch_id"),)


class UploadLog(Base):
    """Every upload attempt, accepted or refused, with the reason in zh and en (采集上传日志)."""

    __tablename__ = "collection_upload_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    terminal_id: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    village_code: Mapped[str | None] = mapped_column(sa.String(12), index=True)
    batch_id: Mapped[str | None] = mapped_column(sa.String(64))
    outcome: Mapped[str] = mapped_column(sa.String(10))
    code: Mapped[str] = mapped_column(sa.String(24))
    reason_zh: Mapped[str] = mapped_column(sa.String(300))
    reason_en: Mapped[str] = mapped_column(sa.String(300))
    client: Mapped[str | None] = mapped_column(sa.String(64))
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.CheckConstraint("outcome IN ('accepted', 'refused')", name="outcome"),
    )
