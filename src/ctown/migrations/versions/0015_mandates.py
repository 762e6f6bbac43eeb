"""Proxy mandates with scope, confirmation and revocation (#11 item 4).

Adds to ``proxy_mandates`` the scope (``scope_query``, ``scope_apply``, ``scope_consent``), who
recorded it, its confirmation by the farmer (``confirmed_at``, ``confirmation``, ``paper_ref``),
the one-time code's hash, expiry and counters, and who revoked it and why.

Mandates recorded before this revision (only by ``ctown demo`` and the test builders) had no scope
and no confirmation and were in force until they expired or were revoked. They stay valid exactly
as they were: scope **all three** (query, apply, consent: what the access layer let a proxy do
until now), ``confirmation = 'legacy'`` with ``confirmed_at = granted_at`` (the platform did not
ask the farmer then; ``ctown proxy list`` and the officers' page show them as such), no recording
officer. Their end dates and revocations are kept.

Revision ID: 0015_mandates
Revises: 0014_departments
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0015_mandates"
down_revision = "0014_departments"
branch_labels = None
depends_on = None

_SCOPES = ("scope_query", "scope_apply", "scope_consent")
_COUNTERS = ("code_sends", "code_failures")


def upgrade() -> None:
    with op.batch_alter_table("proxy_mandates", schema=None) as batch_op:
        for name in _SCOPES:
            batch_op.add_column(sa.Column(name, sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("recorded_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("confirmed_at", ctown.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("confirmation", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("paper_ref", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("code_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("code_expires_at", ctown.db.UTCDateTime(timezone=True),
                                      nullable=True))
        for name in _COUNTERS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revoked_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("revoke_reason", sa.String(length=200), nullable=True))

    mandates = sa.table("proxy_mandates", sa.column("granted_at"), sa.column("confirmed_at"),
                        sa.column("confirmation"),
                        *(sa.column(n, sa.Boolean()) for n in _SCOPES),
                        *(sa.column(n, sa.Integer()) for n in _COUNTERS))
    # Existing mandates keep working as they did: every scope, confirmed "legacy" when recorded.
    op.execute(sa.update(mandates).values(
        confirmed_at=mandates.c.granted_at, confirmation="legacy",
        **{n: sa.true() for n in _SCOPES}, **{n: 0 for n in _COUNTERS}))

    with op.batch_alter_table("proxy_mandates", schema=None) as batch_op:
        for name in _SCOPES:
            batch_op.alter_column(name, existing_type=sa.Boolean(), nullable=False)
        for name in _COUNTERS:
            batch_op.alter_column(name, existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_proxy_mandates_paper_ref"), ["paper_ref"],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_proxy_mandates_recorded_by_id_users"),
                                    "users", ["recorded_by_id"], ["id"])
        batch_op.create_foreign_key(batch_op.f("fk_proxy_mandates_revoked_by_id_users"),
                                    "users", ["revoked_by_id"], ["id"])
        batch_op.create_check_constraint(op.f("ck_proxy_mandates_scope"),
                                         "scope_query OR scope_apply OR scope_consent")
        batch_op.create_check_constraint(op.f("ck_proxy_mandates_confirmation"),
                                         "confirmation IN ('sms', 'paper', 'legacy')")


def downgrade() -> None:
    # A mandate the farmer never confirmed must not come back in force under 0014's rules.
    mandates = sa.table("proxy_mandates", sa.column("confirmed_at"), sa.column("revoked_at"))
    op.execute(sa.update(mandates).where(mandates.c.confirmed_at.is_(None),
                                         mandates.c.revoked_at.is_(None))
               .values(revoked_at=sa.func.current_timestamp()))
    with op.batch_alter_table("proxy_mandates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_proxy_mandates_confirmation"), type_="check")
        batch_op.drop_constraint(batch_op.f("ck_proxy_mandates_scope"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_proxy_mandates_revoked_by_id_users"),
                                 type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("fk_proxy_mandates_recorded_by_id_users"),
                                 type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_proxy_mandates_paper_ref"))
        for name in ("revoke_reason", "revoked_by_id", *_COUNTERS, "code_expires_at",
                     "code_hash", "paper_ref", "confirmation", "confirmed_at", "recorded_by_id",
                     *_SCOPES):
            batch_op.drop_column(name)
