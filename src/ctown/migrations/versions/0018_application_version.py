"""Loan applications carry a version for optimistic locking (#12 item 8): two officers acting on
the same application at once — one wins, the other is told. Existing rows start at version 1.

Revision ID: 0018_application_version
Revises: 0017_hardening
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_application_version"
down_revision = "0017_hardening"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loan_applications") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1",
                                      nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("loan_applications") as batch_op:
        batch_op.drop_column("version")
