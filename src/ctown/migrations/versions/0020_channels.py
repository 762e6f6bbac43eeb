"""SMS inbound log, one-time codes, outbox addresses (#13 items 2-3).

``notify_outbox.address_cipher``: an SMS's own address (the reply to an unregistered number);
``notify_sms_optouts``: numbers that sent 退订; ``channels_sms_inbound``: the webhook's messages by
the gateway's id (replay answers, per-number limits); ``channels_sign_in_codes``: sign-in codes.

Revision ID: 0020_channels
Revises: 0019_feedback
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0020_channels"
down_revision = "0019_feedback"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("address_cipher", sa.Text(), nullable=True))
    op.create_table(
        "notify_sms_optouts",
        sa.Column("phone_index", sa.String(length=64), nullable=False),
        sa.Column("opted_out_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("phone_index", name=op.f("pk_notify_sms_optouts")),
    )
    op.create_table(
        "channels_sms_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("phone_index", sa.String(length=64), nullable=False),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("command", sa.String(length=12), nullable=False),
        sa.Column("reply_cipher", sa.Text(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("received_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_channels_sms_inbound_subject_id_subjects")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels_sms_inbound")),
        sa.UniqueConstraint("message_id", name=op.f("uq_channels_sms_inbound_message_id")),
    )
    with op.batch_alter_table("channels_sms_inbound", schema=None) as batch_op:
        batch_op.create_index("ix_channels_sms_inbound_number", ["phone_index", "received_at"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_channels_sms_inbound_subject_id"), ["subject_id"],
                              unique=False)
    op.create_table(
        "channels_sign_in_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("id_index", sa.String(length=64), nullable=False),
        sa.Column("client_index", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("used_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_channels_sign_in_codes_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels_sign_in_codes")),
        sa.UniqueConstraint("ticket_hash", name=op.f("uq_channels_sign_in_codes_ticket_hash")),
    )
    with op.batch_alter_table("channels_sign_in_codes", schema=None) as batch_op:
        batch_op.create_index("ix_channels_sign_in_codes_id", ["id_index", "created_at"],
                              unique=False)
        batch_op.create_index("ix_channels_sign_in_codes_client", ["client_index", "created_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("channels_sign_in_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_channels_sign_in_codes_client")
        batch_op.drop_index("ix_channels_sign_in_codes_id")
    op.drop_table("channels_sign_in_codes")
    with op.batch_alter_table("channels_sms_inbound", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channels_sms_inbound_subject_id"))
        batch_op.drop_index("ix_channels_sms_inbound_number")
    op.drop_table("channels_sms_inbound")
    op.drop_table("notify_sms_optouts")
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.drop_column("address_cipher")
