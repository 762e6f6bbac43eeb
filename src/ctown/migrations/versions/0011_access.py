"""Access layer: what the one access layer needs of the tables (quarantined rows' region).

Revision ID: 0011_access
Revises: 0010_consent_hold
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_access"
down_revision = "0010_consent_hold"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The region a quarantined row names, by which township officers reach it. Rows quarantined
    # before are not backfilled (their region would mean decrypting every payload): NULL, so
    # only the county reaches them.
    with op.batch_alter_table("quarantined_rows", schema=None) as batch_op:
        batch_op.add_column(sa.Column("region_code", sa.String(length=12), nullable=True))
        batch_op.create_index(batch_op.f("ix_quarantined_rows_region_code"), ["region_code"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quarantined_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quarantined_rows_region_code"))
        batch_op.drop_column("region_code")
