"""JSON API of feedback (mounted under /api/v1/feedback): the same steps as the pages."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime

from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.feedback import service
from ctown.feedback.models import Feedback
from ctown.feedback.schemas import AnswerIn, FeedbackIn, FeedbackOut, TimelinessOut
from ctown.web.deps import DB, Me, verify_csrf

router = APIRouter(prefix="/feedback", tags=["feedback"])
CSRF = [Depends(verify_csrf)]
Status = Literal["received", "answered", "closed"]


def _cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.cipher
    return cipher


def _out(request: Request, db: DB, user: Me, item: Feedback) -> FeedbackOut:
    return FeedbackOut.of(service.rows(db, user, _cipher(request), [item])[0])


@router.get("")
def items(request: Request, user: Me, db: DB, status: Status | None = None,
          overdue: bool = False) -> list[FeedbackOut]:
    """The items the user reaches: the queue of their region (officers), their household's own
    (farmers), their households' (proxies). Unanswered first, the nearest deadline first."""
    found = service.queue_for(db, user, status=status, overdue_only=overdue)
    return [FeedbackOut.of(r) for r in service.rows(db, user, _cipher(request), found)]


@router.post("", dependencies=CSRF, status_code=201)
def submit(body: FeedbackIn, request: Request, user: Me, db: DB) -> FeedbackOut:
    channel = "officer" if user.role in service.OFFICERS else "page"
    item = service.submit(db, user, subject_id=body.subject_id, channel=channel, text=body.text,
                          kind=body.kind, region_code=body.region_code, cipher=_cipher(request))
    return _out(request, db, user, item)


@router.get("/timeliness")
def timeliness(user: Me, db: DB,
               region: Annotated[str | None, Query(pattern=r"^[0-9]{12}$")] = None,
               since: AwareDatetime | None = None, until: AwareDatetime | None = None
               ) -> TimelinessOut:
    """服务响应及时率 over the items whose deadline falls in [since, until) (default: the last 30
    days); times with their offset (``2026-12-01T00:00:00+08:00``)."""
    until = until or utcnow()
    since = since or until - dt.timedelta(days=30)
    on_time, due, rate = service.response_timeliness(db, user, region, since, until)
    return TimelinessOut(region_code=region, since=since, until=until, answered_on_time=on_time,
                         due=due, rate=rate, target=service.TARGET)


@router.get("/{feedback_id}")
def item(feedback_id: int, request: Request, user: Me, db: DB) -> FeedbackOut:
    return _out(request, db, user, service.get_feedback_for(db, user, feedback_id))


@router.post("/{feedback_id}/answer", dependencies=CSRF)
def answer(feedback_id: int, body: AnswerIn, request: Request, user: Me, db: DB) -> FeedbackOut:
    item = service.answer(db, user, feedback_id, body.text, cipher=_cipher(request))
    return _out(request, db, user, item)


@router.post("/{feedback_id}/close", dependencies=CSRF)
def close(feedback_id: int, request: Request, user: Me, db: DB) -> FeedbackOut:
    return _out(request, db, user, service.close(db, user, feedback_id))
