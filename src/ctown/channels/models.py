"""Tables of the farmers' channels: inbound SMS (短信上行) and one-time sign-in codes (登录验证码)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow


class InboundSms(Base):
    """One message the SMS gateway handed the webhook, kept by the gateway's id.

    The same id again is answered from this row (``reply_cipher``) and queues nothing: gateways
    resend when our answer is slow. The number is kept only as its blind index (the per-number
    rate limit counts these rows); the reply is encrypted (it can carry a grade and an amount),
    bound to the message id.
    """

    __tablename__ = "channels_sms_inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    phone_index: Mapped[str] = mapped_column(sa.String(64))
    #: The person the number is on file for (None: unknown or shared by several households).
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    #: ``cx`` ``ed`` ``hk`` ``bz`` ``td`` ``fk`` ``help`` (anything else), ``limited``.
    command: Mapped[str] = mapped_column(sa.String(12))
    reply_cipher: Mapped[str] = mapped_column(sa.Text)
    #: The reply's outbox row (None: rate-limited, nothing sent).
    outbox_id: Mapped[int | None] = mapped_column(sa.Integer)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.Index("ix_channels_sms_inbound_number", "phone_index", "received_at"),)


class SignInCode(Base):
    """One request for a sign-in code (一次性验证码登录), made whether the ID exists or not.

    ``id_index`` is the blind index of the typed resident ID (an unknown ID gets a row too, with
    no code: the rate limits and the answers are the same for both); ``client_index`` that of
    the client address. ``ticket_hash`` names the request in the second step's form; the code
    and the ticket are kept only as keyed hashes.
    """

    __tablename__ = "channels_sign_in_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    id_index: Mapped[str] = mapped_column(sa.String(64))
    client_index: Mapped[str] = mapped_column(sa.String(64))
    #: The account the code signs in (None: no such ID, no farmer's account, no phone on file).
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    #: The outbox row of the SMS (its code is blanked once this request is done with).
    outbox_id: Mapped[int | None] = mapped_column(sa.Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.Index("ix_channels_sign_in_codes_id", "id_index", "created_at"),
        sa.Index("ix_channels_sign_in_codes_client", "client_index", "created_at"),
    )
