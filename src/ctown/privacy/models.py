"""Tables of consent and privacy (征信业管理条例, 个人信息保护法).

``credit_queries`` and ``audit_events`` are append-only and go on the tamper-evident ledger;
consents, objections and complaints change state, and every change is also an audit event.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow


class Consent(Base):
    """A farmer's authorisation (授权) to one bank for one purpose and period, revocable.

    ``scope`` "query" lets the bank look at the credit report (条例 art. 18); "provide" is the
    separate consent to hand the farmer's data to the bank (PIPL art. 23), given on its own.
    "collect" is the household's written authorisation for the platform itself to collect the
    indicators the catalogue marks ``consent_required`` (信息采集授权书, 条例 art. 14, PIPL art. 29):
    no bank is involved, so ``bank_code`` is the empty text and ``purpose`` is "collection";
    ``form_no`` and ``signed_on`` identify the signed paper form.
    """

    __tablename__ = "privacy_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    bank_code: Mapped[str] = mapped_column(sa.String(32))
    purpose: Mapped[str] = mapped_column(sa.String(24))
    scope: Mapped[str] = mapped_column(sa.String(10))
    granted_by_id: Mapped[int | None] = mapped_column(sa.Integer)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(sa.Integer)
    form_no: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    signed_on: Mapped[dt.date | None] = mapped_column(sa.Date)

    __table_args__ = (
        sa.CheckConstraint("scope IN ('query', 'provide', 'collect')", name="scope"),
        sa.Index("ix_privacy_consents_lookup", "subject_id", "bank_code", "scope"),
    )


class CreditQuery(Base):
    """Every look at a credit report, allowed or refused (条例 art. 22: who, which institution,
    purpose, when). The farmer sees these on their own page."""

    __tablename__ = "privacy_credit_queries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    subject_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)
    actor_name: Mapped[str] = mapped_column(sa.String(100))
    institution: Mapped[str] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.String(24))
    outcome: Mapped[str] = mapped_column(sa.String(10))
    consent_id: Mapped[int | None] = mapped_column(sa.Integer)

    __table_args__ = (sa.CheckConstraint("outcome IN ('allowed', 'refused')", name="outcome"),)


class NegativeNotice(Base):
    """The farmer is told before a negative record goes live (条例 art. 15)."""

    __tablename__ = "privacy_negative_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    indicator_code: Mapped[str] = mapped_column(sa.String(8))
    observed_on: Mapped[dt.date] = mapped_column(sa.Date)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    purged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (sa.UniqueConstraint("subject_id", "indicator_code", "observed_on",
                                          name="uq_privacy_negative_notices_item"),)


class Objection(Base):
    """A farmer's objection (异议) to an item of their file: marked disputed, answered in
    writing within 20 days (条例 art. 25)."""

    __tablename__ = "privacy_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.Integer, index=True)
    indicator_code: Mapped[str | None] = mapped_column(sa.String(8))
    raised_by_id: Mapped[int | None] = mapped_column(sa.Integer)
    reason: Mapped[str] = mapped_column(sa.Text)
    raised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_by_id: Mapped[int | None] = mapped_column(sa.Integer)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class Complaint(Base):
    """A privacy complaint (个人信息保护投诉), handled by the privacy officer to an answer."""

    __tablename__ = "privacy_complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    raised_by_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    subject_id: Mapped[int | None] = mapped_column(sa.Integer)
    text: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(sa.String(10), default="open")
    answer: Mapped[str | None] = mapped_column(sa.Text)
    answered_by_id: Mapped[int | None] = mapped_column(sa.Integer)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """A sensitive action (who read which file, exported what, changed which setting, granted
    or revoked what). Append-only and on the ledger."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.Integer)
    actor_role: Mapped[str | None] = mapped_column(sa.String(24))
    action: Mapped[str] = mapped_column(sa.String(40), index=True)
    target: Mapped[str] = mapped_column(sa.String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class RateBucket(Base):
    """One token bucket of the rate limits (``privacy.hardening``), shared by every worker process
    of the server through the database: ``key`` is the rule and the client address."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(sa.Float)
    #: Wall-clock seconds (epoch) of the last update: shared by processes, unlike a monotonic clock.
    at: Mapped[float] = mapped_column(sa.Float, index=True)
    #: Whether the last request was let through (read back by the same statement).
    ok: Mapped[bool] = mapped_column(sa.Boolean)


class KeyringBinding(Base):
    """Which key ring the database was written under (#12 item 1): the ring's fingerprint, never a
    key. One row (id 1), written when the first ring is made for an empty database."""

    __tablename__ = "keyring_binding"

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    bound_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
