"""The feedback queue (反馈与投诉队列, R-6.4): one row per item, whatever channel it came by.

The text and the answer are the farmer's own words — names, ID and phone numbers among them — so
both are encrypted at rest by the field cipher (``Capability.encrypted``), bound to the row's
``ref``, the random reference the farmer is told (a number that says nothing about the order).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow

CHANNELS = ("page", "sms", "voice", "officer")
KINDS = ("feedback", "complaint")
STATUSES = ("received", "answered", "closed")


class Feedback(Base):
    """An item of feedback or a complaint (反馈/投诉), routed to the region and role that answers.

    ``origin_region_code`` is where it comes from (the household's village), counted in the
    figures; ``region_code`` and ``assigned_role`` whom it sits with now (routing, then each
    escalation). ``deadline_at`` is received + 48 h and never moves: it is the promise the on-time
    figure measures. ``escalate_at`` is when the escalation job next moves it up (none at the top).
    """

    __tablename__ = "feedback_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(sa.String(12), unique=True)
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    kind: Mapped[str] = mapped_column(sa.String(10))
    text_cipher: Mapped[str] = mapped_column(sa.Text)
    recording_ref: Mapped[str | None] = mapped_column(sa.String(200))
    origin_region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    assigned_role: Mapped[str] = mapped_column(sa.String(24))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(sa.String(10), default="received", index=True)
    escalation_level: Mapped[int] = mapped_column(sa.Integer, default=0)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    escalate_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    answer_cipher: Mapped[str | None] = mapped_column(sa.Text)
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        sa.CheckConstraint("channel IN ('page', 'sms', 'voice', 'officer')", name="channel"),
        sa.CheckConstraint("kind IN ('feedback', 'complaint')", name="kind"),
        sa.CheckConstraint("status IN ('received', 'answered', 'closed')", name="status"),
    )
