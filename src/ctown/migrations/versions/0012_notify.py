"""Notify: one outbox for every capability (``notify_outbox``), taking over ``lending_notices``.

Lending's notices keep their ids, texts, times and sent marks; the application a notice was about
becomes ``ref_kind = 'loan_application'``, ``ref_id`` (the outbox sits below lending and may not
point at its tables). Negative-record notices that were marked "notified" without any message
being sent (the platform had no sender for them) are marked untold again, so that
``ctown privacy notify-negatives`` sends them and the records stay out of bank reports until the
farmer has actually been told (条例 art. 15).

Revision ID: 0012_notify
Revises: 0011_access
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import ctown.db

revision = "0012_notify"
down_revision = "0011_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=12), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("ref_kind", sa.String(length=32), nullable=True),
        sa.Column("ref_id", sa.Integer(), nullable=True),
        sa.Column("msgid", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=80), nullable=True),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_notify_outbox_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_notify_outbox_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_outbox")),
    )
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_notify_outbox_ref", ["ref_kind", "ref_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_outbox_sent_at"), ["sent_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_notify_outbox_subject_id"), ["subject_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_notify_outbox_user_id"), ["user_id"], unique=False)

    # A sent notice counts one attempt; an unsent one none (the sender takes it up).
    op.execute(
        "INSERT INTO notify_outbox (id, channel, user_id, subject_id, source, ref_kind, ref_id, "
        "msgid, params, created_at, sent_at, read_at, attempts) "
        "SELECT id, channel, user_id, subject_id, 'lending', "
        "CASE WHEN application_id IS NULL THEN NULL ELSE 'loan_application' END, "
        "application_id, msgid, params, created_at, sent_at, read_at, "
        "CASE WHEN sent_at IS NULL THEN 0 ELSE 1 END FROM lending_notices")
    if op.get_bind().dialect.name == "postgresql":
        # The ids were copied: the sequence continues after them.
        op.execute("SELECT setval(pg_get_serial_sequence('notify_outbox', 'id'), "
                   "COALESCE((SELECT MAX(id) FROM notify_outbox), 0) + 1, false)")

    with op.batch_alter_table("lending_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lending_notices_user_id"))
        batch_op.drop_index(batch_op.f("ix_lending_notices_subject_id"))
        batch_op.drop_index(batch_op.f("ix_lending_notices_sent_at"))
    op.drop_table("lending_notices")

    # Before 0012 ``notify_negatives`` set notified_at without sending anything.
    op.execute("UPDATE privacy_negative_notices SET notified_at = NULL WHERE purged_at IS NULL")


def downgrade() -> None:
    op.create_table(
        "lending_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("subject_id", sa.Integer(), nullable=True),
        sa.Column("application_id", sa.Integer(), nullable=True),
        sa.Column("msgid", sa.String(length=200), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("created_at", ctown.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("read_at", ctown.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["loan_applications.id"],
                                name=op.f("fk_lending_notices_application_id_loan_applications")),
        sa.ForeignKeyConstraint(["subject_id"], ["subjects.id"],
                                name=op.f("fk_lending_notices_subject_id_subjects")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_lending_notices_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lending_notices")),
    )
    with op.batch_alter_table("lending_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lending_notices_sent_at"), ["sent_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_lending_notices_subject_id"), ["subject_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_lending_notices_user_id"), ["user_id"], unique=False)
    op.execute(
        "INSERT INTO lending_notices (id, channel, user_id, subject_id, application_id, msgid, "
        "params, created_at, sent_at, read_at) "
        "SELECT id, channel, user_id, subject_id, "
        "CASE WHEN ref_kind = 'loan_application' THEN ref_id ELSE NULL END, msgid, params, "
        "created_at, sent_at, read_at FROM notify_outbox WHERE source = 'lending'")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('lending_notices', 'id'), "
                   "COALESCE((SELECT MAX(id) FROM lending_notices), 0) + 1, false)")
    # The old code never tells a record again: mark notified what was actually delivered.
    op.execute(
        "UPDATE privacy_negative_notices SET notified_at = (SELECT MIN(o.sent_at) FROM "
        "notify_outbox o WHERE o.ref_kind = 'negative_notice' "
        "AND o.ref_id = privacy_negative_notices.id) WHERE notified_at IS NULL")
    with op.batch_alter_table("notify_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notify_outbox_user_id"))
        batch_op.drop_index(batch_op.f("ix_notify_outbox_subject_id"))
        batch_op.drop_index(batch_op.f("ix_notify_outbox_sent_at"))
        batch_op.drop_index("ix_notify_outbox_ref")
    op.drop_table("notify_outbox")
