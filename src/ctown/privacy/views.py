"""Pages of privacy: the farmer's own page (authorisations, who looked, objections, complaints),
the bank's credit report under consent, the privacy officer's desk, the auditor's trail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ctown.access.policy import roles_with
from ctown.accounts.models import User
from ctown.i18n import _
from ctown.ledger import service as ledger_service
from ctown.privacy import policy, report, service
from ctown.web.deps import current_user, get_db, locale_of, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/privacy")
DB = Annotated[Session, Depends(get_db)]
Me = Annotated[User, Depends(current_user)]
CSRF = [Depends(verify_csrf)]


def _link(href: str, label: str, resource: str, purpose: str, **more: object
          ) -> dict[str, object]:
    """A navigation link shown to the roles the one table lets reach ``resource`` for
    ``purpose`` (:func:`ctown.access.policy.roles_with`)."""
    return {"href": href, "label": label, "resource": resource, "purpose": purpose,
            "roles": sorted(roles_with(resource, purpose)), **more}


# The household's page is where consents are given for it (also by the village officer entering
# a paper form, who opens it with ?subject=); the desk is for those who answer objections.
NAV = [_link("/privacy/me", _("我的授权与查询记录"), "subject", "act_for"),
       _link("/privacy/officer", _("异议与投诉"), "objection", "answer"),
       _link("/privacy/audit", _("审计日志"), "audit", "view")]
SUBJECT_LINKS = [_link("/privacy/report/{id}", _("查询信用报告（需授权）"), "subject",
                       "request_report", kinds=("household", "entity"))]


def _back(path: str, message: str = "") -> RedirectResponse:
    return RedirectResponse(path + (f"?msg={message}" if message else ""), status_code=303)


@router.get("/me", response_class=HTMLResponse)
def me(request: Request, user: Me, db: DB, subject: int | None = None) -> HTMLResponse:
    page = service.household_page(db, user, subject)
    receipts = _receipts(db, page.subject_id) if page.subject_id is not None else []
    return render(request, "privacy/me.html", user=user, purposes=service.PURPOSES,
                  subject_id=page.subject_id, consents=page.consents, queries=page.queries,
                  objections=page.objections, complaints=page.complaints, receipts=receipts,
                  message=_msg(request))


def _receipts(db: Session, subject_id: int, limit: int = 10) -> list[dict[str, object]]:
    """The latest changes of the household's file with the ledger leaf that proves each."""
    import sqlalchemy as sa

    from ctown.registry.models import ChangeEvent, Subject

    log = ledger_service.get_log(db)
    if log is None:
        return []
    tree = ledger_service.tree(db, log)
    members = sa.select(Subject.id).where(
        sa.or_(Subject.id == subject_id, Subject.household_id == subject_id))
    events = db.scalars(sa.select(ChangeEvent).where(ChangeEvent.subject_id.in_(members))
                        .order_by(ChangeEvent.id.desc()).limit(limit))
    return [{"event": e, "leaf": tree.locate("change_event", e.id)} for e in events]


def _msg(request: Request) -> str | None:
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


@router.get("/report/{subject_id}", response_class=HTMLResponse)
def credit_report(subject_id: int, request: Request, user: Me, db: DB,
                  purpose: str = "loan_application") -> HTMLResponse:
    access, body = report.credit_report(db, user, subject_id, purpose, locale_of(request))
    return render(request, "privacy/report.html", user=user, access=access, report=body,
                  purposes=service.PURPOSES, purpose=purpose,
                  status_code=200 if access.allowed else 403)


@router.get("/officer", response_class=HTMLResponse)
def officer(request: Request, user: Me, db: DB) -> HTMLResponse:
    desk = service.officer_desk(db, user)
    return render(request, "privacy/officer.html", user=user, complaints=desk.complaints,
                  objections=desk.objections, overdue=desk.overdue,
                  policy=policy.table(), levels=policy.SENSITIVITIES, message=_msg(request))


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


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, user: Me, db: DB, action: str = "") -> HTMLResponse:
    events = service.audit_events(db, user, action=action or None)
    log = ledger_service.get_log(db)
    on_ledger = (ledger_service.tree(db, log).high_water("audit") if log else None) or 0
    checkpoint = ledger_service.latest_checkpoint(db)
    return render(request, "privacy/audit.html", user=user, events=events, action=action,
                  on_ledger=on_ledger, log=log, checkpoint=checkpoint)
