"""Access layer: what the one access layer needs of the tables (quarantined rows' region).

Revision ID: 0011_access
Revises: 0010_consent_hold
Create Date: 2026-12-03
"""

from __future__ import annotations

revision = "0011_access"
down_revision = "0010_consent_hold"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
