"""Village collection points: terminals, accepted batches, upload log.

Revision ID: 0008_collection
Revises: 0007_privacy
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0008_collection"
down_revision = "0007_privacy"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collection_terminals",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("enrolled_via", sa.String(length=10), nullable=False),
        sa.Column("registered_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.Integer(), nullable=True),
        sa.Column("revoked_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.Integer(), nullable=True),
        sa.Column("revoke_reason", sa.String(length=200), nullable=True),
        sa.Column("last_seen_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("enrolled_via IN ('cli', 'web', 'admin', 'demo')",
                           name=op.f("ck_collection_terminals_enrolled_via")),
        sa.ForeignKeyConstraint(["village_code"], ["regions.code"],
                                name=op.f("fk_collection_terminals_village_code_regions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_terminals")),
        sa.UniqueConstraint("public_key", name=op.f("uq_collection_terminals_public_key")),
    )
    with op.batch_alter_table("collection_terminals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_terminals_village_code"), ["village_code"],
                              unique=False)

    op.create_table(
        "collection_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.String(length=20), nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=24), nullable=False),
        sa.Column("envelope_sha256", sa.String(length=64), nullable=False),
        sa.Column("village_code", sa.String(length=12), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("received_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("accepted", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("credit_batch_id", sa.Integer(), nullable=True),
        sa.Column("officers", sa.JSON(), nullable=False),
        sa.Column("rejections", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["terminal_id"], ["collection_terminals.id"],
                                name=op.f("fk_collection_batches_terminal_id_collection_terminals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_batches")),
        sa.UniqueConstraint("nonce", name=op.f("uq_collection_batches_nonce")),
        sa.UniqueConstraint("terminal_id", "batch_id",
                            name=op.f("uq_collection_batches_terminal_id_batch_id")),
    )
    with op.batch_alter_table("collection_batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_batches_terminal_id"), ["terminal_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_collection_batches_village_code"), ["village_code"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_collection_batches_received_at"), ["received_at"],
                              unique=False)

    op.create_table(
        "collection_upload_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("terminal_id", sa.String(length=20), nullable=True),
        sa.Column("village_code", sa.String(length=12), nullable=True),
        sa.Column("batch_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("code", sa.String(length=24), nullable=False),
        sa.Column("reason_zh", sa.String(length=300), nullable=False),
        sa.Column("reason_en", sa.String(length=300), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("outcome IN ('accepted', 'refused')",
                           name=op.f("ck_collection_upload_log_outcome")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_upload_log")),
    )
    with op.batch_alter_table("collection_upload_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_collection_upload_log_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_collection_upload_log_terminal_id"), ["terminal_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_collection_upload_log_village_code"),
                              ["village_code"], unique=False)


def downgrade() -> None:
    op.drop_table("collection_upload_log")
    op.drop_table("collection_batches")
    op.drop_table("collection_terminals")
