"""Hardening (#12): rate-limit buckets in the database, shared by every worker of the server
(item 9), and the key ring the database is bound to (item 1).

Revision ID: 0017_hardening
Revises: 0016_config
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0017_hardening"
down_revision = "0016_config"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_buckets")),
    )
    op.create_index(op.f("ix_rate_buckets_at"), "rate_buckets", ["at"], unique=False)
    op.create_table(
        "keyring_binding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("bound_at", ctown.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keyring_binding")),
    )


def downgrade() -> None:
    op.drop_table("keyring_binding")
    op.drop_index(op.f("ix_rate_buckets_at"), table_name="rate_buckets")
    op.drop_table("rate_buckets")
