"""Server-side sessions, token expiry, first-login password change (#11 items 1-2).

Tokens issued before this revision get 90 days from their creation (the default of
``token_days``): a token older than that is refused from now on, as a new one would be.

Revision ID: 0013_sessions
Revises: 0012_notify
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0013_sessions"
down_revision = "0012_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.Column("client", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_user_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_user_sessions_id_hash")),
    )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_user_sessions_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("must_change_password", sa.Boolean(),
                                      server_default=sa.false(), nullable=False))

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", ctown.db.UTCDateTime(timezone=True),
                                      nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE api_tokens SET expires_at = created_at + interval '90 days'")
    else:  # SQLite keeps UTC times as naive text (ctown.db.UTCDateTime)
        op.execute("UPDATE api_tokens SET expires_at = "
                   "strftime('%Y-%m-%d %H:%M:%f', created_at, '+90 days')")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.alter_column("expires_at", existing_type=ctown.db.UTCDateTime(timezone=True),
                              nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("must_change_password")
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_user_sessions_user_id"))
    op.drop_table("user_sessions")
