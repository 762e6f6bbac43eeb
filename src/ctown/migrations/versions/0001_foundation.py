"""Foundation: regions, subjects, change events, users, tokens, mandates, access log.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('access_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('event', sa.String(length=24), nullable=False),
    sa.Column('detail', sa.String(length=300), nullable=True),
    sa.Column('client', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_log'))
    )
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_access_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_user_id'), ['user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_access_log_username'), ['username'], unique=False)

    op.create_table('regions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=True),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.CheckConstraint("level IN ('county', 'township', 'village')", name=op.f('ck_regions_level')),
    sa.ForeignKeyConstraint(['parent_code'], ['regions.code'], name=op.f('fk_regions_parent_code_regions')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_regions'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_regions_parent_code'), ['parent_code'], unique=False)

    op.create_table('subjects',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('household_id', sa.Integer(), nullable=True),
    sa.Column('household_no', sa.String(length=40), nullable=True),
    sa.Column('relation', sa.String(length=20), nullable=True),
    sa.Column('gender', sa.String(length=1), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('entity_type', sa.String(length=24), nullable=True),
    sa.Column('credit_code', sa.String(length=18), nullable=True),
    sa.Column('id_cipher', sa.Text(), nullable=True),
    sa.Column('id_index', sa.String(length=64), nullable=True),
    sa.Column('phone_cipher', sa.Text(), nullable=True),
    sa.Column('phone_index', sa.String(length=64), nullable=True),
    sa.Column('created_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('household', 'person', 'entity', 'collective')", name=op.f('ck_subjects_kind')),
    sa.ForeignKeyConstraint(['household_id'], ['subjects.id'], name=op.f('fk_subjects_household_id_subjects')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_subjects_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subjects')),
    sa.UniqueConstraint('credit_code', name=op.f('uq_subjects_credit_code')),
    sa.UniqueConstraint('household_no', name=op.f('uq_subjects_household_no')),
    sa.UniqueConstraint('id_index', name=op.f('uq_subjects_id_index'))
    )
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subjects_household_id'), ['household_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_subjects_kind'), ['kind'], unique=False)
        batch_op.create_index('ix_subjects_kind_region', ['kind', 'region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_subjects_phone_index'), ['phone_index'], unique=False)
        batch_op.create_index(batch_op.f('ix_subjects_region_code'), ['region_code'], unique=False)

    op.create_table('change_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=120), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('entity', sa.String(length=40), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_change_events_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_change_events'))
    )
    with op.batch_alter_table('change_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_change_events_occurred_at'), ['occurred_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_change_events_subject_id'), ['subject_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('bank_code', sa.String(length=32), nullable=True),
    sa.Column('department_code', sa.String(length=32), nullable=True),
    sa.Column('locale', sa.String(length=10), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('county_admin', 'township_officer', 'village_officer', 'evaluation_member', 'credit_proxy', 'bank_officer', 'department_feed', 'farmer', 'evaluator', 'insurer', 'merchant', 'privacy_officer')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_users_region_code_regions')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_users_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_users_subject_id'), ['subject_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('proxy_mandates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proxy_id', sa.Integer(), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=False),
    sa.Column('granted_at', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('valid_until', ctown.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', ctown.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['proxy_id'], ['users.id'], name=op.f('fk_proxy_mandates_proxy_id_users')),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_proxy_mandates_subject_id_subjects')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proxy_mandates'))
    )
    with op.batch_alter_table('proxy_mandates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_proxy_mandates_proxy_id'), ['proxy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_proxy_mandates_subject_id'), ['subject_id'], unique=False)



def downgrade() -> None:
    op.drop_table("proxy_mandates")
    op.drop_table("api_tokens")
    op.drop_table("users")
    op.drop_table("change_events")
    op.drop_table("subjects")
    op.drop_table("regions")
    op.drop_table("access_log")
