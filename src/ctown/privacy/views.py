"""Pages of privacy: the farmer's own page (authorisations, who looked, objections, complaints),
the bank's credit report under consent, the privacy officer's desk, the auditor's trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ctown import masking
from ctown.accounts.models import User
from ctown.i18n import _
from ctown.privacy import service
from ctown.web.deps import DB_SESSION, current_user, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/privacy")
DB = Annotated[Session, DB_SESSION]
Me = Annotated[User, Depends(current_user)]
CSRF = [Depends(verify_csrf)]


# The desk is for those who answer objections; the household's page (where consents are given),
# the credit report and the audit page are ctown.report's.
NAV = [{"href": "/privacy/officer", "label": _("异议与投诉"), "resource": "objection",
        "purpose": "answer"}]


def _back(path: str, message: str = "") -> RedirectResponse:
    return RedirectResponse(path + (f"?msg={message}" if message else ""), status_code=303)


def flash_message(request: Request) -> str | None:
    return {"granted": _("授权已记录"), "revoked": _("授权已撤回"), "objected": _("异议已提交"),
            "complained": _("投诉已提交"), "answered": _("已答复")}.get(
        request.query_params.get("msg", ""))


@router.post("/consents", dependencies=CSRF)
def grant(user: Me, db: DB, subject_id: Annotated[int, Form()],
          bank_code: Annotated[str, Form()], purpose: Annotated[str, Form()],
          scope: Annotated[str, Form()] = "query", days: Annotated[int, Form()] = 90
          ) -> Response:
    service.grant_consent(db, user, subject_id=subject_id, bank_code=bank_code,
                          purpose=purpose, scope=scope, days=days)
    return _back(f"/privacy/me?subject={subject_id}&msg=granted")


@router.post("/consents/{consent_id}/revoke", dependencies=CSRF)
def revoke(consent_id: int, user: Me, db: DB) -> Response:
    consent = service.revoke_consent(db, user, consent_id)
    return _back(f"/privacy/me?subject={consent.subject_id}&msg=revoked")


@router.post("/objections", dependencies=CSRF)
def object_to(user: Me, db: DB, subject_id: Annotated[int, Form()],
              reason: Annotated[str, Form()], indicator_code: Annotated[str, Form()] = ""
              ) -> Response:
    service.raise_objection(db, user, subject_id=subject_id, indicator_code=indicator_code or None,
                            reason=reason)
    return _back("/privacy/me", "objected")


@router.post("/complaints", dependencies=CSRF)
def complain(user: Me, db: DB, text: Annotated[str, Form()]) -> Response:
    service.file_complaint(db, user, text)
    return _back("/privacy/me", "complained")


@router.get("/officer", response_class=HTMLResponse)
def officer(request: Request, user: Me, db: DB) -> HTMLResponse:
    desk = service.officer_desk(db, user)
    return render(request, "privacy/officer.html", user=user, complaints=desk.complaints,
                  objections=desk.objections, overdue=desk.overdue,
                  policy=masking.table(), levels=masking.SENSITIVITIES, message=flash_message(request))


@router.post("/objections/{objection_id}/answer", dependencies=CSRF)
def answer_objection(objection_id: int, user: Me, db: DB,
                     answer: Annotated[str, Form()]) -> Response:
    service.answer_objection(db, user, objection_id, answer)
    return _back("/privacy/officer", "answered")


@router.post("/complaints/{complaint_id}/answer", dependencies=CSRF)
def answer_complaint(complaint_id: int, user: Me, db: DB,
                     answer: Annotated[str, Form()]) -> Response:
    service.answer_complaint(db, user, complaint_id, answer)
    return _back("/privacy/officer", "answered")
