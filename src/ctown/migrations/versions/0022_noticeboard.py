"""Notice-board editions and consents to publication (#13 item 7).

Revision ID: 0022_noticeboard
Revises: 0021_voice
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0022_noticeboard"
down_revision = "0021_voice"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notice_editions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('built_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('built_by_id', sa.Integer(), nullable=True),
    sa.Column('objection_until', sa.Date(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('named', sa.Integer(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=False),
    sa.Column('pdf_bytes', sa.Integer(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('named_ids', sa.JSON(), nullable=False),
    sa.Column('pdf', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['village_code'], ['regions.code'], name=op.f('fk_notice_editions_village_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_editions'))
    )
    with op.batch_alter_table('notice_editions', schema=None) as batch_op:
        batch_op.create_index('ix_notice_editions_village_period', ['village_code', 'period'], unique=False)
        batch_op.create_index(batch_op.f('ix_notice_editions_village_code'), ['village_code'], unique=False)

    op.create_table('notice_publication_consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('form_no', sa.String(length=40), nullable=True),
    sa.Column('revoked_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_notice_publication_consents_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notice_publication_consents'))
    )
    with op.batch_alter_table('notice_publication_consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_publication_consents_subject_id'), ['subject_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('notice_publication_consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_publication_consents_subject_id'))

    op.drop_table('notice_publication_consents')
    with op.batch_alter_table('notice_editions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_editions_village_code'))
        batch_op.drop_index('ix_notice_editions_village_period')

    op.drop_table('notice_editions')
