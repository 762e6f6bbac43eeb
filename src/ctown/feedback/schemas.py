"""Pydantic in/out of the feedback API (/api/v1/feedback/…)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ctown.feedback.service import Row


class FeedbackIn(BaseModel):
    """An item from the page (the farmer, their proxy) or written down by an officer."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=2000)
    kind: Literal["feedback", "complaint"] = "feedback"
    #: The household it is about (default: the farmer's own); none: about ``region_code``.
    subject_id: int | None = None
    region_code: str | None = Field(default=None, pattern=r"^[0-9]{12}$")


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=2000)


class FeedbackOut(BaseModel):
    id: int
    ref: str
    channel: str
    kind: str
    subject_id: int | None
    household: str | None
    text: str
    recording_ref: str | None
    region_code: str
    assigned_role: str
    status: str
    received_at: dt.datetime
    deadline_at: dt.datetime
    overdue: bool
    escalation_level: int
    escalated_at: dt.datetime | None
    answer: str | None
    answered_at: dt.datetime | None
    answered_late: bool

    @classmethod
    def of(cls, row: Row) -> FeedbackOut:
        i = row.item
        return cls(id=i.id, ref=i.ref, channel=i.channel, kind=i.kind, subject_id=i.subject_id,
                   household=row.household, text=row.text, recording_ref=i.recording_ref,
                   region_code=i.region_code, assigned_role=i.assigned_role, status=i.status,
                   received_at=i.received_at, deadline_at=i.deadline_at, overdue=row.overdue,
                   escalation_level=i.escalation_level, escalated_at=i.escalated_at,
                   answer=row.answer, answered_at=i.answered_at, answered_late=row.late)


class TimelinessOut(BaseModel):
    """服务响应及时率 over [since, until): answered on time / due; rate null when nothing was due."""

    region_code: str | None
    since: dt.datetime
    until: dt.datetime
    answered_on_time: int
    due: int
    rate: float | None
    target: float
