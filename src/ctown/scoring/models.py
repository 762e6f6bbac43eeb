"""Tables of credit evaluation (信用评价): grades, model versions, sign-offs (三方复核), runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

# The tables referenced by foreign keys must be known to the metadata whoever imports us first.
import ctown.accounts.models
import ctown.registry.models  # noqa: F401
from ctown.db import Base, UTCDateTime, utcnow


class GradeRecord(Base):
    """One grade of one subject (五级十档 A1..E2). History is kept: exactly one row per subject has
    ``is_current`` set; older rows stay for the grade history and the PSI month by month."""

    __tablename__ = "grades"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    score: Mapped[int] = mapped_column(sa.Integer)
    grade: Mapped[str] = mapped_column(sa.String(2))
    pd: Mapped[float] = mapped_column(sa.Float)
    #: Top factors up and down (code, points, zh/en words) and what would improve the grade.
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    model_version: Mapped[str] = mapped_column(sa.String(64))
    scored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    is_current: Mapped[bool] = mapped_column(sa.Boolean, default=True)
    run_id: Mapped[int | None] = mapped_column(sa.ForeignKey("scoring_runs.id"), index=True)

    __table_args__ = (
        sa.Index("ix_grades_subject_current", "subject_id", "is_current"),
        sa.CheckConstraint("grade IN ('A1','A2','B1','B2','C1','C2','D1','D2','E1','E2')",
                           name="grade"),
    )


class ModelVersion(Base):
    """A trained (or rule-only) model registered for review; live only after three sign-offs."""

    __tablename__ = "model_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: ``draft`` (awaiting sign-offs), ``live`` (the one in use), ``retired``, ``rolled_back``.
    status: Mapped[str] = mapped_column(sa.String(12), default="draft", index=True)
    algorithm: Mapped[str] = mapped_column(sa.String(24))
    #: SHA-256 of the training table (column names, types and rows) — what it learned from.
    fingerprint: Mapped[str] = mapped_column(sa.String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The portable scorecard (JSON export) that scoring runs load.
    artifact: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: 个人信息保护影响评估 (PIPL art. 55–56): purpose, data, effects, safeguards.
    impact_assessment: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The impact assessment must be kept at least three years (PIPL art. 56).
    retain_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("status IN ('draft', 'live', 'retired', 'rolled_back')",
                           name="status"),
    )


class ModelSignoff(Base):
    """One of the three sign-offs: bank (credit data), township (behaviour data), evaluator
    (calibration). One per role and one per person, enforced by the database as well."""

    __tablename__ = "model_signoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(sa.ForeignKey("model_versions.id"), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    role: Mapped[str] = mapped_column(sa.String(24))
    statement: Mapped[str] = mapped_column(sa.Text, default="")
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.UniqueConstraint("model_version_id", "user_id", name="uq_model_signoffs_user"),
        sa.UniqueConstraint("model_version_id", "role", name="uq_model_signoffs_role"),
    )


class ScoringRun(Base):
    """One batch of scoring: the whole county, a subject-id range, or the subjects changed since
    an ingest batch (incremental)."""

    __tablename__ = "scoring_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(sa.String(12))
    model_version: Mapped[str] = mapped_column(sa.String(64))
    since_batch_id: Mapped[int | None] = mapped_column(sa.Integer)
    #: Highest ingest batch id seen, so the next incremental run starts after it.
    upto_batch_id: Mapped[int | None] = mapped_column(sa.Integer)
    scored: Mapped[int] = mapped_column(sa.Integer, default=0)
    changed: Mapped[int] = mapped_column(sa.Integer, default=0)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    seconds: Mapped[float | None] = mapped_column(sa.Float)
    #: Grade counts and score histogram of this run (for PSI month by month after go-live).
    distribution: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
