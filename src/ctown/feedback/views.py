"""Pages of feedback (反馈): the farmer's phone-first form and list (``/feedback/new``,
``/feedback/mine``), one item with its answer, and the officers' queue with the overdue flags and
the on-time rate (服务响应及时率). Also the proxy's home (``/proxy/acting``): it shows each
household's open feedback, which the proxy package (a layer below) cannot read."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctown.access.scope import allowed
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.feedback import service
from ctown.feedback.service import CHANNEL_LABELS, KIND_LABELS, STATUS_LABELS
from ctown.i18n import _, translate
from ctown.proxy import home
from ctown.proxy.service import SCOPE_LABELS, STATE_LABELS, State
from ctown.web.deps import DB, Me, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter()
CSRF = [Depends(verify_csrf)]
#: The window of the on-time figure on the queue page.
FIGURE_DAYS = 30

NAV = [{"href": "/feedback/mine", "label": _("我的反馈"), "roles": [Role.farmer, Role.credit_proxy]},
       {"href": "/feedback/queue", "label": _("反馈处理"), "resource": "feedback",
        "purpose": "answer"}]

FLASH = {"sent": _("已收到，编号 {ref}。我们会在 48 小时内答复您。"), "answered": _("答复已发出"),
         "closed": _("已办结")}


def _cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.cipher
    return cipher


def _page(request: Request, name: str, user: User, **context: Any) -> HTMLResponse:
    msgid = FLASH.get(request.query_params.get("msg", ""))
    message = (translate(msgid, locale_of(request), ref=request.query_params.get("ref", ""))
               if msgid else None)
    return render(request, name, user=user, kinds=KIND_LABELS, channels=CHANNEL_LABELS,
                  statuses=STATUS_LABELS, message=message, **context)


# -- the farmer (and the proxy, the officer writing it down) -------------------------------------
@router.get("/feedback/new", response_class=HTMLResponse)
def new(request: Request, user: Me, db: DB) -> HTMLResponse:
    households = (home.households(db, user) if user.role == Role.credit_proxy else [])
    return _page(request, "feedback/new.html", user, households=households,
                 officer=user.role in service.OFFICERS)


@router.post("/feedback", dependencies=CSRF)
def submit(request: Request, user: Me, db: DB, text: Annotated[str, Form()] = "",
           kind: Annotated[str, Form()] = "feedback",
           household_id: Annotated[int | None, Form()] = None,
           household_no: Annotated[str, Form()] = "") -> Response:
    officer = user.role in service.OFFICERS
    subject_id = household_id
    if officer and household_no.strip():
        subject_id = service.household_by_no(db, user, household_no)
    item = service.submit(db, user, subject_id=subject_id, kind=kind, text=text,
                          channel="officer" if officer else "page", cipher=_cipher(request))
    where = "/feedback/queue" if officer else "/feedback/mine"
    return RedirectResponse(f"{where}?msg=sent&ref={item.ref}", status_code=303)


@router.get("/feedback/mine", response_class=HTMLResponse)
def mine(request: Request, user: Me, db: DB) -> HTMLResponse:
    items = service.queue_for(db, user)
    return _page(request, "feedback/mine.html", user,
                 rows=service.rows(db, user, _cipher(request), items))


# -- the officers' queue -------------------------------------------------------------------------
@router.get("/feedback/queue", response_class=HTMLResponse, include_in_schema=False)
def queue(request: Request, user: Me, db: DB, status: str | None = "received",
          overdue: bool = False) -> HTMLResponse:
    service.require_answerer(user)
    status = status if status in STATUS_LABELS else None  # "" or anything else: every status
    now = utcnow()
    items = service.queue_for(db, user, status=status, overdue_only=overdue, now=now)
    since = now - dt.timedelta(days=FIGURE_DAYS)
    on_time, due, rate = service.response_timeliness(db, user, None, since, now, now=now)
    return _page(request, "feedback/queue.html", user, status=status, overdue=overdue,
                 rows=service.rows(db, user, _cipher(request), items, now),
                 on_time=on_time, due=due, rate=rate, days=FIGURE_DAYS,
                 target=service.TARGET)


# -- one item ------------------------------------------------------------------------------------
@router.get("/feedback/{feedback_id}", response_class=HTMLResponse)
def item(feedback_id: int, request: Request, user: Me, db: DB) -> HTMLResponse:
    found = service.get_feedback_for(db, user, feedback_id)
    row = service.rows(db, user, _cipher(request), [found])[0]
    can_answer = allowed(user, "feedback", "answer") and service.may_answer(db, user, found)
    return _page(request, "feedback/item.html", user, row=row, can_answer=can_answer)


@router.post("/feedback/{feedback_id}/answer", dependencies=CSRF)
def answer(feedback_id: int, request: Request, user: Me, db: DB,
           text: Annotated[str, Form()] = "") -> Response:
    service.answer(db, user, feedback_id, text, cipher=_cipher(request))
    return RedirectResponse(f"/feedback/{feedback_id}?msg=answered", status_code=303)


@router.post("/feedback/{feedback_id}/close", dependencies=CSRF)
def close(feedback_id: int, user: Me, db: DB) -> Response:
    service.close(db, user, feedback_id)
    return RedirectResponse(f"/feedback/{feedback_id}?msg=closed", status_code=303)


# -- the proxy's home ------------------------------------------------------------------------------
@router.get("/proxy/acting", response_class=HTMLResponse)
def acting(request: Request, user: Me, db: DB) -> HTMLResponse:
    """我代理的农户: each household that authorised the proxy, its grade and open items."""
    cards = home.cards(db, user)
    open_feedback = service.open_counts(db, user, [c.household_id for c in cards])
    return render(request, "proxy/held.html", user=user, cards=cards, in_force=State.in_force,
                  scope_labels=SCOPE_LABELS, state_labels=STATE_LABELS,
                  open_feedback=open_feedback, message=None)
