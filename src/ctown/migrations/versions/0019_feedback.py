"""Feedback queue (#13 item 6).

Revision ID: 0019_feedback
Revises: 0018_application_version
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0019_feedback"
down_revision = "0018_application_version"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feedback_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ref', sa.String(length=12), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('submitted_by_id', sa.Integer(), nullable=True),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('text_cipher', sa.Text(), nullable=False),
    sa.Column('recording_ref', sa.String(length=200), nullable=True),
    sa.Column('origin_region_code', sa.String(length=12), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('assigned_role', sa.String(length=24), nullable=False),
    sa.Column('received_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('deadline_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('escalation_level', sa.Integer(), nullable=False),
    sa.Column('escalated_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('escalate_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer_cipher', sa.Text(), nullable=True),
    sa.Column('answered_by_id', sa.Integer(), nullable=True),
    sa.Column('answered_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint("channel IN ('page', 'sms', 'voice', 'officer')", name=op.f('ck_feedback_items_channel')),
    sa.CheckConstraint("kind IN ('feedback', 'complaint')", name=op.f('ck_feedback_items_kind')),
    sa.CheckConstraint("status IN ('received', 'answered', 'closed')", name=op.f('ck_feedback_items_status')),
    sa.ForeignKeyConstraint(['answered_by_id'], ['users.id'], name=op.f('fk_feedback_items_answered_by_id_users')),
    sa.ForeignKeyConstraint(['origin_region_code'], ['regions.code'], name=op.f('fk_feedback_items_origin_region_code_regions')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_feedback_items_region_code_regions')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_feedback_items_subject_id_subjects')),
    sa.ForeignKeyConstraint(['submitted_by_id'], ['users.id'], name=op.f('fk_feedback_items_submitted_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feedback_items')),
    sa.UniqueConstraint('ref', name=op.f('uq_feedback_items_ref'))
    )
    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        for column in ('subject_id', 'submitted_by_id', 'origin_region_code', 'region_code',
                       'deadline_at', 'status', 'escalate_at'):
            batch_op.create_index(batch_op.f(f'ix_feedback_items_{column}'), [column], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('feedback_items', schema=None) as batch_op:
        for column in ('escalate_at', 'status', 'deadline_at', 'region_code',
                       'origin_region_code', 'submitted_by_id', 'subject_id'):
            batch_op.drop_index(batch_op.f(f'ix_feedback_items_{column}'))
    op.drop_table('feedback_items')
