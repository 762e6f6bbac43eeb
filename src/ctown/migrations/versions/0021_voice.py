"""Voice calls and their audio (#13 item 4).

Revision ID: 0021_voice
Revises: 0020_channels
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0021_voice"
down_revision = "0020_channels"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('voice_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('phone_index', sa.String(length=64), nullable=True),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=10), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('last_key', sa.String(length=1), nullable=True),
    sa.Column('message_ref', sa.String(length=12), nullable=True),
    sa.Column('started_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("state IN ('identify', 'menu', 'message', 'ended')", name=op.f('ck_voice_calls_state')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_voice_calls_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voice_calls')),
    sa.UniqueConstraint('call_id', name=op.f('uq_voice_calls_call_id'))
    )
    with op.batch_alter_table('voice_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voice_calls_phone_index'), ['phone_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_voice_calls_started_at'), ['started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_voice_calls_subject_id'), ['subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('voice_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voice_calls_subject_id'))
        batch_op.drop_index(batch_op.f('ix_voice_calls_started_at'))
        batch_op.drop_index(batch_op.f('ix_voice_calls_phone_index'))
    op.drop_table('voice_calls')
