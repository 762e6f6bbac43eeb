"""Voice calls (语音来电): where each call is in the menu.

A row holds no phone number and no resident ID: the caller's number only as its blind index (the
one ``subjects.phone_index`` holds), the person once identified, the failed tries (three per call,
and a day's budget per number across calls), and the menu key that 0 repeats. What was said is
not kept; it is computed again from the household's summary.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow

STATES = ("identify", "menu", "message", "ended")


class VoiceCall(Base):
    __tablename__ = "voice_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The telephony platform's id of the call (its webhook names it on every key).
    call_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    phone_index: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    state: Mapped[str] = mapped_column(sa.String(10), default="identify")
    failures: Mapped[int] = mapped_column(default=0)
    last_key: Mapped[str | None] = mapped_column(sa.String(1))
    #: The feedback item a message left on this call became (``feedback_items.ref``).
    message_ref: Mapped[str | None] = mapped_column(sa.String(12))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("state IN ('identify', 'menu', 'message', 'ended')", name="state"),
    )
