"""Tamper-evident ledger: the log, its leaves (with stored subtree hashes) and checkpoints.

Revision ID: 0006_ledger
Revises: 0001_foundation
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0006_ledger"
down_revision = "0001_foundation"
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
        "ledger_leaves",
        sa.Column("leaf_index", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  autoincrement=False, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=64), nullable=False),
        sa.Column("nodes", sa.LargeBinary(), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("ref_id", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_ledger_leaves")),
        sa.UniqueConstraint("kind", "ref_id", name=op.f("uq_ledger_leaves_kind_ref_id")),
    )
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
    op.drop_table("ledger_leaves")
    op.drop_table("ledger_log")
