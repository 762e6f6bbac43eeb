"""Notice-board editions and consents to publication (#13 item 7).

Revision ID: 0022_noticeboard
Revises: 0021_voice
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0022_noticeboard"
down_revision = "0021_voice"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
