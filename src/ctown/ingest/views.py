"""Pages: batches, the quarantine (list, correct, replay), identity confirmations, credit file;
the register of departments and their keys (:mod:`ctown.ingest.department_views`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ctown.access import rules
from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.db import utcnow
from ctown.i18n import _
from ctown.ingest import department_views
from ctown.ingest import quarantine as q
from ctown.ingest.creditfile import credit_file
from ctown.ingest.hold import grant_and_release, held_overview, held_summary
from ctown.ingest.mapping import load_mappings
from ctown.ingest.service import list_batches
from ctown.privacy.service import revoke_consent
from ctown.web.deps import DB_SESSION, allowed, current_user, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter()
router.include_router(department_views.router)


def _link(href: str, label: str, resource: str, purpose: str = "view",
          **extra: Any) -> dict[str, Any]:
    """A navigation entry, shown to the roles the one table lets reach the resource."""
    return {"href": href, "label": label, "resource": resource, "purpose": purpose, **extra}


NAV = [
    _link("/ingest/batches", _("数据归集"), "batch"),
    _link("/ingest/quarantine", _("隔离区"), "quarantine"),
    _link("/ingest/matches", _("身份待确认"), "match"),
    _link("/ingest/held", _("授权暂存"), "held_value", "overview"),
    _link("/admin/departments", _("部门与密钥"), "department"),
]
SUBJECT_LINKS = [_link("/subjects/{id}/credit-file", _("信用档案"), "subject", "credit_file"),
                 _link("/subjects/{id}/consent", _("信息采集授权"), "subject", "collect_consent",
                       kinds=("household", "person"))]
#: Feature gates read from the one table (rows are scoped by the services).
BATCHES, HELD = allowed("batch"), allowed("held_value", "overview")
QUARANTINE, RESOLVE = allowed("quarantine"), allowed("quarantine", "resolve")
MATCHES, DECIDE = allowed("match"), allowed("match", "decide")
#: Who records a household's signed collection consent and sees what is held for it (counts).
DESK = allowed("subject", "collect_consent")


def _departments() -> dict[str, tuple[str, str]]:
    return {c: (m.name_zh, m.name_en) for c, m in load_mappings().items()}


@router.get("/ingest/batches", response_class=HTMLResponse)
def batches(request: Request, page: int = 1, user: User = Depends(BATCHES),
            db: Session = DB_SESSION) -> HTMLResponse:
    rows = list_batches(db, user, page)
    return render(request, "ingest/batches.html", user=user, batches=rows,
                  departments=_departments(), page=page)


@router.get("/ingest/quarantine", response_class=HTMLResponse)
def quarantine(request: Request, department: str = "", status: str = "open", page: int = 1,
               user: User = Depends(QUARANTINE), db: Session = DB_SESSION
               ) -> HTMLResponse:
    result = q.list_rows(db, request.app.state.cipher, user, department=department or None,
                         status=status, page=page)
    return render(request, "ingest/quarantine.html", user=user, result=result,
                  department=department, status=status, departments=_departments(),
                  message=request.query_params.get("done"))


@router.get("/ingest/quarantine/{row_id}", response_class=HTMLResponse)
def quarantine_row(request: Request, row_id: int, user: User = Depends(QUARANTINE),
                   db: Session = DB_SESSION) -> HTMLResponse:
    item = q.row_detail(db, request.app.state.cipher, user, row_id)
    return render(request, "ingest/quarantine_row.html", user=user, item=item)


@router.post("/ingest/quarantine/{row_id}/fix", dependencies=[Depends(verify_csrf)])
async def quarantine_fix(request: Request, row_id: int,
                         user: User = Depends(RESOLVE),
                         db: Session = DB_SESSION) -> RedirectResponse:
    form = await request.form()  # async only to read the form's dynamic ``col:*`` fields
    changes = {str(k)[4:]: str(v) for k, v in form.items() if str(k).startswith("col:")}
    replay = bool(form.get("replay"))
    # The database work in a worker thread, not on the event loop (where it would stall every
    # other request while it waits for the database: see collection.api.upload_batch).
    return await run_in_threadpool(_fix, db, request.app.state.cipher, user, row_id, changes,
                                   replay)


def _fix(db: Session, cipher: Any, user: User, row_id: int, changes: dict[str, str],
         replay: bool) -> RedirectResponse:
    q.fix_row(db, cipher, user, row_id, changes)
    if replay:
        q.replay(db, cipher, user, ids=[row_id])
        return RedirectResponse("/ingest/quarantine?done=replayed", status_code=303)
    return RedirectResponse(f"/ingest/quarantine/{row_id}", status_code=303)


@router.post("/ingest/quarantine/replay", dependencies=[Depends(verify_csrf)])
def quarantine_replay(request: Request, department: str = Form(""),
                      ids: list[int] = Form(default_factory=list),
                      user: User = Depends(RESOLVE),
                      db: Session = DB_SESSION) -> RedirectResponse:
    q.replay(db, request.app.state.cipher, user, ids=ids or None, department=department or None)
    return RedirectResponse(f"/ingest/quarantine?department={department}&done=replayed",
                            status_code=303)


@router.post("/ingest/quarantine/discard", dependencies=[Depends(verify_csrf)])
def quarantine_discard(ids: list[int] = Form(default_factory=list),
                       user: User = Depends(RESOLVE),
                       db: Session = DB_SESSION) -> RedirectResponse:
    q.discard(db, user, ids)
    return RedirectResponse("/ingest/quarantine?done=discarded", status_code=303)


@router.get("/ingest/matches", response_class=HTMLResponse)
def matches(request: Request, user: User = Depends(MATCHES),
            db: Session = DB_SESSION) -> HTMLResponse:
    items = q.list_matches(db, request.app.state.cipher, user)
    return render(request, "ingest/matches.html", user=user, items=items,
                  departments=_departments())


@router.post("/ingest/matches/{match_id}", dependencies=[Depends(verify_csrf)])
def decide(request: Request, match_id: int, decision: str = Form(...),
           user: User = Depends(DECIDE),
           db: Session = DB_SESSION) -> RedirectResponse:
    q.decide(db, request.app.state.cipher, user, match_id, confirm=decision == "confirm")
    return RedirectResponse("/ingest/matches", status_code=303)


@router.get("/subjects/{subject_id}/credit-file", response_class=HTMLResponse)
def credit_file_page(request: Request, subject_id: int, as_of: dt.date | None = None,
                     user: User = Depends(current_user), db: Session = DB_SESSION
                     ) -> HTMLResponse:
    cf = credit_file(db, user, subject_id, as_of, locale_of(request))
    return render(request, "ingest/credit_file.html", user=user, cf=cf,
                  departments=_departments())


# -- held until consent (授权暂存) -------------------------------------------------------------------

def _indicator_names() -> dict[str, tuple[str, str]]:
    return {c: (i.name_zh, i.name_en) for c, i in load_catalogue().indicators.items()}


@router.get("/ingest/held", response_class=HTMLResponse)
def held_page(request: Request, user: User = Depends(HELD),
              db: Session = DB_SESSION) -> HTMLResponse:
    """Counts per indicator of the values waiting for a collection consent (never values)."""
    rows = held_overview(db, user)
    return render(request, "ingest/held.html", user=user, rows=rows, names=_indicator_names())


@router.get("/subjects/{subject_id}/consent", response_class=HTMLResponse)
def consent_page(request: Request, subject_id: int,
                 user: User = Depends(DESK),
                 db: Session = DB_SESSION) -> HTMLResponse:
    summary = held_summary(db, user, subject_id, utcnow())
    return render(request, "ingest/consent.html", user=user, s=summary,
                  names=_indicator_names(), today=rules.today().isoformat(),
                  message={"granted": _("授权已记录，暂存的数据已转入信用档案"),
                           "revoked": _("授权已撤回：此后收到的需授权数据将被暂存")}.get(
                      request.query_params.get("done", "")))


@router.post("/subjects/{subject_id}/consent", dependencies=[Depends(verify_csrf)])
def consent_grant(request: Request, subject_id: int, signed_on: dt.date = Form(...),
                  form_no: str = Form(""), years: int = Form(3),
                  user: User = Depends(DESK),
                  db: Session = DB_SESSION) -> RedirectResponse:
    grant_and_release(db, request.app.state.cipher, user, subject_id=subject_id,
                      signed_on=signed_on, form_no=form_no, years=years)
    return RedirectResponse(f"/subjects/{subject_id}/consent?done=granted", status_code=303)


@router.post("/subjects/{subject_id}/consent/{consent_id}/revoke",
             dependencies=[Depends(verify_csrf)])
def consent_revoke(subject_id: int, consent_id: int,
                   user: User = Depends(DESK),
                   db: Session = DB_SESSION) -> RedirectResponse:
    revoke_consent(db, user, consent_id)
    return RedirectResponse(f"/subjects/{subject_id}/consent?done=revoked", status_code=303)
