"""The county's configuration versions: proposals, approvals, live versions (#11 item 5).

Revision ID: 0016_config
Revises: 0015_mandates
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0016_config"
down_revision = "0015_mandates"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('config_proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('removes', sa.JSON(), nullable=False),
    sa.Column('rollback_of', sa.Integer(), nullable=True),
    sa.Column('base_version', sa.Integer(), nullable=False),
    sa.Column('bank_code', sa.String(length=20), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('proposed_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=True),
    sa.Column('version', sa.Integer(), nullable=True),
    sa.CheckConstraint("kind IN ('change', 'rollback')", name=op.f('ck_config_proposals_kind')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f('ck_config_proposals_status')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_config_proposals_decided_by_id_users')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_config_proposals_proposed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_config_proposals'))
    )
    with op.batch_alter_table('config_proposals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_config_proposals_bank_code'), ['bank_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_config_proposals_status'), ['status'], unique=False)

    op.create_table('config_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('files', sa.JSON(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('bank_code', sa.String(length=20), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('rollback_of', sa.Integer(), nullable=True),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('approved_by_id', sa.Integer(), nullable=False),
    sa.Column('proposed_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('approved_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_config_versions_approved_by_id_users')),
    sa.ForeignKeyConstraint(['proposal_id'], ['config_proposals.id'], name=op.f('fk_config_versions_proposal_id_config_proposals')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_config_versions_proposed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_config_versions')),
    sa.UniqueConstraint('version', name=op.f('uq_config_versions_version'))
    )
    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_config_versions_bank_code'), ['bank_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('config_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_config_versions_bank_code'))

    op.drop_table('config_versions')
    with op.batch_alter_table('config_proposals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_config_proposals_status'))
        batch_op.drop_index(batch_op.f('ix_config_proposals_bank_code'))

    op.drop_table('config_proposals')
