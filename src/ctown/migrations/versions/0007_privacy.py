"""Consent, credit-report queries, negative-record notices, objections, complaints, audit trail.

Revision ID: 0007_privacy
Revises: 0006_ledger
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0007_privacy"
down_revision = "0006_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=24), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_events_action"), ["action"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_events_at"), ["at"], unique=False)

    op.create_table(
        "privacy_complaints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raised_by_id", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_complaints")),
    )
    with op.batch_alter_table("privacy_complaints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_complaints_raised_by_id"), ["raised_by_id"], unique=False
        )

    op.create_table(
        "privacy_credit_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("institution", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("consent_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "outcome IN ('allowed', 'refused')", name=op.f("ck_privacy_credit_queries_outcome")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_credit_queries")),
    )
    with op.batch_alter_table("privacy_credit_queries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_credit_queries_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "privacy_negative_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(length=8), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("purged_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_negative_notices")),
        sa.UniqueConstraint(
            "subject_id", "indicator_code", "observed_on", name="uq_privacy_negative_notices_item"
        ),
    )
    with op.batch_alter_table("privacy_negative_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_privacy_negative_notices_subject_id"), ["subject_id"], unique=False
        )

    op.create_table(
        "privacy_objections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(length=8), nullable=True),
        sa.Column("raised_by_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raised_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("answered_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_objections")),
    )
    with op.batch_alter_table("privacy_objections", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_objections_subject_id"), ["subject_id"], unique=False)

    op.create_table(
        "privacy_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("bank_code", sa.String(length=32), nullable=False),
        sa.Column("purpose", sa.String(length=24), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("granted_by_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("valid_until", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("scope IN ('query', 'provide')", name=op.f("ck_privacy_consents_scope")),
        sa.ForeignKeyConstraint(
            ["subject_id"], ["subjects.id"], name=op.f("fk_privacy_consents_subject_id_subjects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_consents")),
    )
    with op.batch_alter_table("privacy_consents", schema=None) as batch_op:
        batch_op.create_index(
            "ix_privacy_consents_lookup", ["subject_id", "bank_code", "scope"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_privacy_consents_subject_id"), ["subject_id"], unique=False)


def downgrade() -> None:
    op.drop_table("privacy_consents")
    op.drop_table("privacy_objections")
    op.drop_table("privacy_negative_notices")
    op.drop_table("privacy_credit_queries")
    op.drop_table("privacy_complaints")
    op.drop_table("audit_events")
