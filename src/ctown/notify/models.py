"""The outbox (发送箱): one row per notice, written in the transaction of its cause."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow


class Notification(Base):
    """A notice to a user (in-app) or a subject (SMS, voice), or to a department (webhook).

    Written in the transaction of the change that causes it and delivered only after that
    transaction commits, so no one hears of a change that was undone. ``attempts`` and
    ``next_attempt_at`` carry the retries after a backend failure; ``failed_at`` is set when the
    sender gives up (``ctown notify send --retry-failed`` tries again).

    What a notice is about is ``(ref_kind, ref_id)`` — e.g. ``("loan_application", 12)`` or
    ``("negative_notice", 5)`` — rather than one foreign-key column per capability: the outbox
    sits below lending and privacy, so it may not point at their tables, and two plain columns
    stay indexable and joinable where a ``"kind:id"`` string would need parsing in SQL.
    """

    __tablename__ = "notify_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(12))  # in_app | sms | voice | webhook
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    #: The capability that queued it; its ``notices.on_delivered`` hears of the delivery.
    source: Mapped[str] = mapped_column(sa.String(24))
    ref_kind: Mapped[str | None] = mapped_column(sa.String(32))
    ref_id: Mapped[int | None] = mapped_column(sa.Integer)
    msgid: Mapped[str] = mapped_column(sa.String(200))
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The exception class of the last failed attempt (never its message: it may carry a number).
    last_error: Mapped[str | None] = mapped_column(sa.String(80))
    #: An address of its own (the field cipher's token, bound to this row's id), for a notice not
    #: sent to the phone on file of ``subject_id`` — the reply to a number nobody registered.
    #: Without it an SMS goes to the subject's phone on file, looked up at send time. Only the
    #: backend decrypts it (``channels.Outgoing.address``).
    address_cipher: Mapped[str | None] = mapped_column(sa.Text)

    __table_args__ = (sa.Index("ix_notify_outbox_ref", "ref_kind", "ref_id"),)


class SmsOptOut(Base):
    """A phone number that sent 退订 (TD): notices that may be declined are not sent to it
    (:data:`ctown.notify.optout.OPTIONAL`); those the law requires still are. Kept by the
    number's blind index, so it covers everyone registered with that number."""

    __tablename__ = "notify_sms_optouts"

    phone_index: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    opted_out_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
