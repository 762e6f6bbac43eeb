"""Voice calls and their audio (#13 item 4).

Revision ID: 0021_voice
Revises: 0020_channels
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0021_voice"
down_revision = "0020_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
