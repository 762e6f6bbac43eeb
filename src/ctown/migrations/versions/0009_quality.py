"""Data-quality figures: health probes for the stability rate.

Revision ID: 0009_quality
Revises: 0008_collection
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0009_quality"
down_revision = "0008_collection"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quality_probes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("component", sa.String(length=40), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quality_probes")),
    )
    with op.batch_alter_table("quality_probes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quality_probes_at"), ["at"], unique=False)


def downgrade() -> None:
    op.drop_table("quality_probes")
