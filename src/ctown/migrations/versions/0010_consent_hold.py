"""Collection consent (scope 'collect') and values held until it is on file.

Revision ID: 0010_consent_hold
Revises: 0009_quality
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0010_consent_hold"
down_revision = "0009_quality"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ingest_consent_rejects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("source_name", sa.String(length=300), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_consent_rejects")),
    )
    with op.batch_alter_table("ingest_consent_rejects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_consent_rejects_file_sha256"),
                              ["file_sha256"], unique=False)

    op.create_table(
        "ingest_held_values",
        sa.Column("id", BigId, nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=False),
        sa.Column("household_id", sa.Integer(), nullable=False),
        sa.Column("indicator_code", sa.String(length=8), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("observed_on", sa.Date(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("department", sa.String(length=16), nullable=False),
        sa.Column("catalogue_version", sa.Integer(), nullable=False),
        sa.Column("held_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_held_values")),
        sa.UniqueConstraint("batch_id", "seq", "indicator_code",
                            name=op.f("uq_ingest_held_values_batch_id_seq_indicator_code")),
    )
    with op.batch_alter_table("ingest_held_values", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_held_values_held_at"), ["held_at"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_ingest_held_values_household_id"),
                              ["household_id"], unique=False)

    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_values", sa.Integer(), server_default="0",
                                      nullable=False))

    with op.batch_alter_table("privacy_consents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("form_no", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("signed_on", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_privacy_consents_form_no"), ["form_no"],
                              unique=False)
        batch_op.drop_constraint(op.f("ck_privacy_consents_scope"), type_="check")
        batch_op.create_check_constraint(op.f("ck_privacy_consents_scope"),
                                         "scope IN ('query', 'provide', 'collect')")


def downgrade() -> None:
    op.execute("DELETE FROM privacy_consents WHERE scope = 'collect'")
    with op.batch_alter_table("privacy_consents", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_privacy_consents_scope"), type_="check")
        batch_op.create_check_constraint(op.f("ck_privacy_consents_scope"),
                                         "scope IN ('query', 'provide')")
        batch_op.drop_index(batch_op.f("ix_privacy_consents_form_no"))
        batch_op.drop_column("signed_on")
        batch_op.drop_column("form_no")

    with op.batch_alter_table("ingest_batches", schema=None) as batch_op:
        batch_op.drop_column("held_values")

    op.drop_table("ingest_held_values")
    op.drop_table("ingest_consent_rejects")
