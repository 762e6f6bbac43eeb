"""Tables of the credit file (信用档案) and of the feeds that fill it.

``indicator_values`` is the append-only history (one row per value received), ``current_values``
the latest value per subject and indicator (what scoring reads in bulk). ``ingest_record_keys``
remembers which department records are already stored, so a re-sent row is recognised as a
duplicate. The two big tables have no foreign keys on purpose: their subject and batch ids come
from the resolver and the batch row of the same transaction, and a per-row foreign-key check
costs about a third of the bulk insert (measured, see docs/ingest.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow

BATCH_STATUSES = ("loading", "done", "failed")
QUARANTINE_STATUSES = ("open", "held", "replayed", "discarded")
MATCH_STATUSES = ("pending", "confirmed", "rejected")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Batch(Base):
    """One file, one pushed batch, or one set of values written by another capability (批次)."""

    __tablename__ = "ingest_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    department: Mapped[str] = mapped_column(sa.String(16), index=True)
    #: The sender's batch id (API) or the SHA-256 of the file's bytes: a re-send is a no-op.
    external_id: Mapped[str] = mapped_column(sa.String(128))
    source_name: Mapped[str] = mapped_column(sa.String(300))
    channel: Mapped[str] = mapped_column(sa.String(12), default="file")
    status: Mapped[str] = mapped_column(sa.String(10), default="loading")
    received: Mapped[int] = mapped_column(default=0)
    accepted: Mapped[int] = mapped_column(default=0)
    #: Quarantined rows, including those held for an identity confirmation (``held``).
    quarantined: Mapped[int] = mapped_column(default=0)
    held: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    values_written: Mapped[int] = mapped_column(default=0)
    #: Values of consent-required indicators kept in ``ingest_held_values`` (no consent on file).
    held_values: Mapped[int] = mapped_column(default=0, server_default="0")
    catalogue_version: Mapped[int] = mapped_column()
    mapping_version: Mapped[int | None] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)
    #: Per-row outcome of a pushed batch, returned again when the sender re-sends it.
    result: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    detail: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.UniqueConstraint("department", "external_id"),
        sa.CheckConstraint("status IN ('loading', 'done', 'failed')", name="status"),
    )


class IndicatorValue(Base):
    """One value of one indicator for one subject, as received (append-only history).

    ``digest`` is the SHA-256 of the canonical value record (:mod:`ctown.ingest.digest`), the leaf
    the tamper-evident ledger commits to.
    """

    __tablename__ = "indicator_values"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.Integer)
    indicator_code: Mapped[str] = mapped_column(sa.String(8))
    value_num: Mapped[float | None] = mapped_column(sa.Float)
    value_text: Mapped[str | None] = mapped_column(sa.Text)
    observed_on: Mapped[dt.date] = mapped_column(sa.Date)
    batch_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    department: Mapped[str] = mapped_column(sa.String(16))
    catalogue_version: Mapped[int] = mapped_column()
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    digest: Mapped[str] = mapped_column(sa.String(64))

    __table_args__ = (sa.Index("ix_indicator_values_subject", "subject_id", "indicator_code"),)


class CurrentValue(Base):
    """The latest value (by observation date, then arrival) of each indicator of each subject."""

    __tablename__ = "current_values"

    subject_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    indicator_code: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    value_num: Mapped[float | None] = mapped_column(sa.Float)
    value_text: Mapped[str | None] = mapped_column(sa.Text)
    observed_on: Mapped[dt.date] = mapped_column(sa.Date)
    batch_id: Mapped[int] = mapped_column(sa.Integer)
    department: Mapped[str] = mapped_column(sa.String(16))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (sa.Index("ix_current_values_indicator", "indicator_code"),)


class RecordKey(Base):
    """Department records already stored: keyed hash of the record key, and of its content."""

    __tablename__ = "ingest_record_keys"

    department: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    key_hash: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    content_hash: Mapped[str] = mapped_column(sa.String(32))
    batch_id: Mapped[int] = mapped_column(sa.Integer)

    __table_args__ = ({"sqlite_with_rowid": False},)


class QuarantinedRow(Base):
    """A row that was not accepted, with why (隔离区). The row and the reasons are encrypted: they
    hold identifiers and personal data as the department sent them."""

    __tablename__ = "quarantined_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(sa.ForeignKey("ingest_batches.id"), index=True)
    seq: Mapped[int] = mapped_column()
    department: Mapped[str] = mapped_column(sa.String(16), index=True)
    #: The region the row itself names (its village column, else the subject it resolved to),
    #: by which township officers reach it; NULL when it names none (the county's alone).
    region_code: Mapped[str | None] = mapped_column(sa.String(12), index=True)
    row_no: Mapped[int | None] = mapped_column()
    sheet: Mapped[str | None] = mapped_column(sa.String(100))
    #: Columns named by the reasons, and the kind of the first reason (clear, for grouping).
    columns: Mapped[str | None] = mapped_column(sa.String(300))
    reason_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    payload: Mapped[str] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(10), default="open", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[int | None] = mapped_column(sa.Integer)
    resolved_batch_id: Mapped[int | None] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.UniqueConstraint("batch_id", "seq"),
        sa.CheckConstraint("status IN ('open', 'held', 'replayed', 'discarded')", name="status"),
    )


class PendingMatch(Base):
    """A row without a valid identifier whose name, birth date and village match one registered
    person: held until a person confirms it is the same (never merged silently)."""

    __tablename__ = "pending_matches"

    id: Mapped[int] = mapped_column(primary_key=True)
    quarantined_row_id: Mapped[int] = mapped_column(sa.ForeignKey("quarantined_rows.id"),
                                                    unique=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    department: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(10), default="pending", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decided_by: Mapped[int | None] = mapped_column(sa.Integer)
    result_batch_id: Mapped[int | None] = mapped_column(sa.Integer)

    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'confirmed', 'rejected')", name="status"),
    )


class HeldValue(Base):
    """A value of a consent-required indicator (``consent_required`` in the catalogue) about a
    person or household whose household had no collection consent (信息采集授权书) on file when
    it arrived: kept aside, encrypted, until the consent is recorded (then released into the
    credit file) or the retention period ends (then purged). See :mod:`ctown.ingest.hold`.

    ``value`` is the ciphertext of ``[value_num, value_text]`` bound to (batch, seq, indicator,
    subject), so a ciphertext cannot be moved to another row or subject.
    """

    __tablename__ = "ingest_held_values"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.Integer)
    household_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    indicator_code: Mapped[str] = mapped_column(sa.String(8))
    value: Mapped[str] = mapped_column(sa.Text)
    observed_on: Mapped[dt.date] = mapped_column(sa.Date)
    batch_id: Mapped[int] = mapped_column(sa.Integer)
    seq: Mapped[int] = mapped_column()
    department: Mapped[str] = mapped_column(sa.String(16))
    catalogue_version: Mapped[int] = mapped_column()
    held_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)

    __table_args__ = (sa.UniqueConstraint("batch_id", "seq", "indicator_code"),)


class ConsentReject(Base):
    """A row of a consent register (``ctown consent import``) that could not be used, with why.
    The row is encrypted (it holds a resident ID); a corrected file is simply imported again."""

    __tablename__ = "ingest_consent_rejects"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    source_name: Mapped[str] = mapped_column(sa.String(300))
    row_no: Mapped[int | None] = mapped_column()
    reason_code: Mapped[str] = mapped_column(sa.String(40))
    payload: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Department(Base):
    """A department feed in the county's register (部门登记): who it is, whom to call, the mapping
    its data uses, and the machine account (role ``department_feed``) its pushes are recorded
    under. See :mod:`ctown.ingest.feeds`."""

    __tablename__ = "ingest_departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The department's code in the data: batches, values and quarantined rows carry it.
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    contact: Mapped[str | None] = mapped_column(sa.String(200))
    #: The code of its mapping file (``ingest/departments/<mapping>.yaml``).
    mapping: Mapped[str] = mapped_column(sa.String(16))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), unique=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DepartmentKey(Base):
    """A push key of a department (报送密钥). Only the SHA-256 of the key is stored; ``prefix``
    (its first characters) names it in lists. Valid until revoked or, once rotated out, until
    ``expires_at`` (the grace period)."""

    __tablename__ = "ingest_department_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("ingest_departments.id"), index=True)
    prefix: Mapped[str] = mapped_column(sa.String(16))
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    issued_by: Mapped[int | None] = mapped_column(sa.Integer)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
