"""Tamper-evident ledger: the log, its tiles of leaves and subtree hashes, the
leaf-to-record runs and the signed checkpoints.

Revision ID: 0006_ledger
Revises: 0005_lending
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0006_ledger"
down_revision = "0005_lending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_log",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("hash_alg", sa.String(length=10), nullable=False),
        sa.Column("vkey", sa.String(length=300), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("hash_alg IN ('sha256', 'sm3')",
                           name=op.f("ck_ledger_log_hash_alg")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_log")),
    )
    op.create_table(
        "ledger_tiles",
        sa.Column("tile_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=False, nullable=False),
        sa.Column("hashes", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("tile_index", name=op.f("pk_ledger_tiles")),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("first_leaf", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("min_ref", sa.BigInteger(), nullable=False),
        sa.Column("max_ref", sa.BigInteger(), nullable=False),
        sa.Column("refs", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
        sa.UniqueConstraint("first_leaf", name=op.f("uq_ledger_entries_first_leaf")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_entries_kind_refs", ["kind", "max_ref", "min_ref"],
                              unique=False)
    op.create_table(
        "ledger_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checkpoints")),
    )
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_checkpoints_tree_size"), ["tree_size"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ledger_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_checkpoints_tree_size"))
    op.drop_table("ledger_checkpoints")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_entries_kind_refs")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_tiles")
    op.drop_table("ledger_log")
