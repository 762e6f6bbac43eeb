"""Feedback queue (#13 item 6).

Revision ID: 0019_feedback
Revises: 0018_application_version
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0019_feedback"
down_revision = "0018_application_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
