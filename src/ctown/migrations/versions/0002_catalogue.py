"""Indicator catalogue: the versions values were collected under.

Revision ID: 0002_catalogue
Revises: 0001_foundation
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0002_catalogue"
down_revision = "0001_foundation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_versions",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("indicator_count", sa.Integer(), nullable=False),
        sa.Column("loaded_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_catalogue_versions")),
    )


def downgrade() -> None:
    op.drop_table("catalogue_versions")
