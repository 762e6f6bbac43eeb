"""Department feeds and their push keys (#11 item 3).

Revision ID: 0014_departments
Revises: 0013_sessions
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0014_departments"
down_revision = "0013_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_departments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("contact", sa.String(length=200), nullable=True),
        sa.Column("mapping", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_ingest_departments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_departments")),
        sa.UniqueConstraint("code", name=op.f("uq_ingest_departments_code")),
        sa.UniqueConstraint("user_id", name=op.f("uq_ingest_departments_user_id")),
    )
    op.create_table(
        "ingest_department_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("issued_by", sa.Integer(), nullable=True),
        sa.Column("last_used_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["department_id"], ["ingest_departments.id"],
                                name=op.f("fk_ingest_department_keys_department_id_ingest_departments")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_department_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_ingest_department_keys_key_hash")),
    )
    with op.batch_alter_table("ingest_department_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ingest_department_keys_department_id"),
                              ["department_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ingest_department_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_department_keys_department_id"))
    op.drop_table("ingest_department_keys")
    op.drop_table("ingest_departments")
