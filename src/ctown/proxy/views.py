"""Pages of proxy mandates: the farmer's own (我的信用代理: mandates, revoking, every act of every
proxy), the proxy's (我代理的农户), and the officer's desk at the service point (record, confirm,
list, revoke)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctown.access import rules
from ctown.accounts.models import User
from ctown.crypto import FieldCipher
from ctown.errors import Invalid
from ctown.i18n import Message, _, translate
from ctown.proxy import acts, service
from ctown.proxy.service import SCOPE_LABELS, STATE_LABELS, State
from ctown.web.deps import DB, Me, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/proxy")
CSRF = [Depends(verify_csrf)]

NAV = [{"href": "/proxy", "label": _("我的信用代理"), "resource": "mandate", "purpose": "own"},
       {"href": "/proxy/acting", "label": _("我代理的农户"), "resource": "mandate",
        "purpose": "held"},
       {"href": "/proxy/desk", "label": _("信用代理授权"), "resource": "mandate",
        "purpose": "record"}]

FLASH = {"revoked": _("授权已撤销"), "recorded": _("授权已登记，请农户确认"),
         "sent": _("验证码已发到户主登记的手机，10 分钟内有效；请农户读出验证码"),
         "confirmed": _("农户已确认，授权生效")}


def _flash(request: Request) -> str | None:
    msgid = FLASH.get(request.query_params.get("msg", ""))
    return translate(msgid, locale_of(request)) if msgid else None


def _back(path: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?msg={message}", status_code=303)


def _page(request: Request, name: str, user: User, status_code: int = 200,
          message: str | None = None, **context: object) -> HTMLResponse:
    return render(request, name, status_code=status_code, user=user, scope_labels=SCOPE_LABELS,
                  state_labels=STATE_LABELS, message=message or _flash(request),
                  message_kind="error" if status_code >= 400 else None, **context)


# -- the farmer ------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
def own(request: Request, user: Me, db: DB) -> HTMLResponse:
    return _page(request, "proxy/own.html", user, rows=service.own_mandates(db, user),
                 acts=acts.acts_on_household(db, user))


@router.get("/mandates/{mandate_id}/revoke", response_class=HTMLResponse)
def revoke_form(mandate_id: int, request: Request, user: Me, db: DB) -> HTMLResponse:
    """The confirmation step of the farmer's one click (撤销前确认)."""
    return _page(request, "proxy/revoke.html", user,
                 row=service.mandate_row(db, user, mandate_id, "revoke"))


@router.post("/mandates/{mandate_id}/revoke", dependencies=CSRF)
def revoke_own(mandate_id: int, user: Me, db: DB) -> Response:
    service.revoke(db, user, mandate_id)
    return _back("/proxy", "revoked")


# -- the proxy -------------------------------------------------------------------------------------
# The proxy's home, /proxy/acting (我代理的农户: each household's grade and open items, proxy.home),
# is served by ctown.feedback.views: it also shows the households' open feedback, a layer above.


# -- the officer at the service point ---------------------------------------------------------------
@router.get("/desk", response_class=HTMLResponse)
def desk(request: Request, user: Me, db: DB, state: State | None = None) -> HTMLResponse:
    return _page(request, "proxy/desk.html", user, state=state, states=list(State),
                 rows=service.mandates_for(db, user, purpose="record", state=state))


@router.get("/desk/new", response_class=HTMLResponse)
def new(request: Request, user: Me, db: DB, q: str = "") -> HTMLResponse:
    today = rules.today()
    return _page(request, "proxy/new.html", user, q=q,
                 households=service.households_to_record(db, user, q),
                 proxies=service.proxies_to_choose(db, user), today=today,
                 latest=service.latest_end(today))


@router.post("/desk", dependencies=CSRF)
def record(user: Me, db: DB, household_id: Annotated[int, Form()],
           proxy_id: Annotated[int, Form()], until: Annotated[str, Form()],
           scopes: Annotated[list[str] | None, Form()] = None) -> Response:
    try:
        day = dt.date.fromisoformat(until)
    except ValueError:
        raise Invalid(Message(_("请选择授权截止日期"))) from None
    mandate = service.record(db, user, household_id=household_id, proxy_id=proxy_id,
                             scopes=scopes or [], until=day)
    return _back(f"/proxy/desk/{mandate.id}", "recorded")


def _cipher(request: Request) -> FieldCipher:
    cipher: FieldCipher = request.app.state.cipher
    return cipher


@router.get("/desk/{mandate_id}", response_class=HTMLResponse)
def mandate(mandate_id: int, request: Request, user: Me, db: DB) -> HTMLResponse:
    return _mandate_page(request, user, db, mandate_id)


def _mandate_page(request: Request, user: User, db: DB, mandate_id: int, status_code: int = 200,
                  message: str | None = None) -> HTMLResponse:
    row = service.mandate_row(db, user, mandate_id, "record")
    return _page(request, "proxy/mandate.html", user, status_code, message, row=row,
                 awaiting=row.state is State.awaiting,
                 live=row.state in (State.awaiting, State.in_force),
                 has_phone=service.phone_holder(db, row.mandate.subject_id) is not None,
                 max_failures=service.MAX_CODE_FAILURES, max_sends=service.MAX_CODE_SENDS)


@router.post("/desk/{mandate_id}/code", dependencies=CSRF)
def send_code(mandate_id: int, request: Request, user: Me, db: DB) -> Response:
    service.send_code(db, user, _cipher(request), mandate_id)
    return _back(f"/proxy/desk/{mandate_id}", "sent")


@router.post("/desk/{mandate_id}/confirm-code", dependencies=CSRF)
def confirm_code(mandate_id: int, request: Request, user: Me, db: DB,
                 code: Annotated[str, Form()]) -> Response:
    check = service.confirm_code(db, user, _cipher(request), mandate_id, code)
    if check.confirmed:
        return _back(f"/proxy/desk/{mandate_id}", "confirmed")
    # Answered, not raised: the wrong attempt is committed with the request.
    text = (check.message or Message(_("输入有误"))).render(locale_of(request))
    return _mandate_page(request, user, db, mandate_id, 422, text)


@router.post("/desk/{mandate_id}/confirm-paper", dependencies=CSRF)
def confirm_paper(mandate_id: int, user: Me, db: DB,
                  paper_ref: Annotated[str, Form()]) -> Response:
    service.confirm_paper(db, user, mandate_id, paper_ref)
    return _back(f"/proxy/desk/{mandate_id}", "confirmed")


@router.post("/desk/{mandate_id}/revoke", dependencies=CSRF)
def revoke_at_desk(mandate_id: int, user: Me, db: DB,
                   reason: Annotated[str, Form()] = "") -> Response:
    service.revoke(db, user, mandate_id, reason)
    return _back(f"/proxy/desk/{mandate_id}", "revoked")
