"""JSON API of financial services under ``/api/v1/lending`` (thin: parse, call, answer)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi import Request as FastRequest
from fastapi.responses import Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ctown.accounts.models import ApiToken, User
from ctown.accounts.security import token_digest
from ctown.db import utcnow
from ctown.errors import Invalid
from ctown.i18n import Message, _
from ctown.lending import approval, figures, grants, loans, notices, service
from ctown.lending.decision import Decision, Request
from ctown.lending.models import Loan, LoanApplication
from ctown.lending.products import load_products
from ctown.lending.schemas import (
    ActionIn,
    ApplicationOut,
    ApplyIn,
    CompensateIn,
    DeadlineOut,
    DecisionOut,
    GrantIn,
    GrantOut,
    GrantRowOut,
    InstalmentOut,
    LoanOut,
    PreviewOut,
    RepayIn,
    TransitionOut,
)
from ctown.web.deps import DB, LoginRequired, Me, keep_denied_log, optional_user, verify_csrf

# Who may do what is asked of the access layer by the service functions (a role that never
# repays, compensates or grants is refused there with 403); handlers only parse and answer.
router = APIRouter(prefix="/lending", tags=["lending"])


def decision_json(app: service.Filed | LoanApplication, decision: Decision) -> dict[str, Any]:
    """The answer of the instant decision as plain JSON values — the same document as
    :class:`DecisionOut` (field for field, money as text), built without a Pydantic model: the
    response is assembled once and encoded once, on the hot path."""
    offer = decision.offer
    return {
        "application_id": app.id, "state": app.state, "eligible": decision.eligible,
        "preapproved": decision.preapproved, "automated": True, "grade": app.grade,
        "reasons": app.reasons,
        "offer": None if offer is None else {
            "limit": str(offer.limit), "amount": str(offer.amount),
            "rate_pct": str(offer.rate_pct), "term_months": offer.term_months,
            "method": offer.method, "guarantor_required": offer.guarantor_required,
            "schedule": [{"number": r.number, "due_on": r.due_on.isoformat(),
                          "principal": str(r.principal), "interest": str(r.interest),
                          "amount": str(r.amount), "paid": None, "paid_on": None}
                         for r in offer.schedule]},
        "due_on": app.due_on.isoformat() if app.due_on else None,
        "review_url": None if decision.eligible
        else f"/api/v1/lending/applications/{app.id}/actions"}


def decision_out(app: LoanApplication, decision: Decision) -> DecisionOut:
    return DecisionOut.model_validate(decision_json(app, decision))


def application_out(app: LoanApplication, full: bool = False) -> ApplicationOut:
    dl = service.deadline(app)
    out = ApplicationOut.model_validate(
        {c: getattr(app, c) for c in ApplicationOut.model_fields
         if c not in ("deadline", "transitions")})
    if dl:
        out.deadline = DeadlineOut(due_on=dl.due_on, estimated=dl.estimated, left=dl.left,
                                   status=dl.status)
    if full:
        out.transitions = [TransitionOut.model_validate(t, from_attributes=True)
                           for t in app.transitions]
    return out


def loan_out(loan: Loan, full: bool = False) -> LoanOut:
    out = LoanOut.model_validate({c: getattr(loan, c) for c in LoanOut.model_fields
                                  if c != "instalments"})
    if full:
        out.instalments = [InstalmentOut(number=i.number, due_on=i.due_on, principal=i.principal,
                                         interest=i.interest, amount=i.principal + i.interest,
                                         paid=i.paid, paid_on=i.paid_on)
                           for i in loan.instalments]
    return out


@router.get("/products")
def products(_user: Me) -> list[dict[str, Any]]:
    return [p.model_dump(mode="json") for p in load_products().values()]


@router.post("/decisions", response_model=DecisionOut, dependencies=[Depends(verify_csrf)])
async def decide(request: FastRequest, body: ApplyIn) -> Response:
    """Apply and get the instant decision: eligibility, offer and pre-approval, with reasons.

    The hot path of the platform (p99 < 200 ms with 100 concurrent applicants): the whole unit
    of work — authentication, decision, insert, commit — runs in ONE worker thread with its own
    session. A yield-dependency session would be closed from another thread, and under load the
    threads waiting for a database connection starve the ones that would give one back.
    """
    return await run_in_threadpool(_decide_serialised, request, body)


def _decide_serialised(request: FastRequest, body: ApplyIn) -> Response:
    with notices.sqlite_writer(request.app.state.engine):
        return _decide_unit(request, body)


@dataclass(frozen=True)
class _TokenUser:
    """The columns of the user behind a bearer token that the decision and the access layer read
    (an :class:`~ctown.access.scope.Actor`, read with Core: building the ORM ``User`` costs more
    than the look-up itself)."""

    id: int
    username: str
    role: str
    region_code: str
    subject_id: int | None
    bank_code: str | None
    department_code: str | None


_TOKEN_USER = (sa.select(User.id, User.username, User.role, User.region_code, User.subject_id,
                         User.bank_code, User.department_code)
               .join(ApiToken, ApiToken.user_id == User.id)
               .where(ApiToken.token_hash == sa.bindparam("digest"),
                      ApiToken.revoked_at.is_(None), ApiToken.expires_at > sa.bindparam("now"),
                      User.is_active.is_(True)))


def _applicant_user(request: FastRequest, session: Session) -> User | _TokenUser:
    """Same rules as ``web.deps.optional_user`` (a bad token is 401, a cookie session works)."""
    scheme, _sep, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    if not token:
        user = optional_user(request, session)
        if user is None:
            raise LoginRequired()
        return user
    row = session.connection().execute(_TOKEN_USER, {"digest": token_digest(token),
                                                     "now": utcnow()}).first()
    if row is None:
        raise LoginRequired()
    request.state.auth = "token"
    return _TokenUser(*row)


def _decide_unit(request: FastRequest, body: ApplyIn) -> Response:
    session: Session = request.app.state.session_factory()
    try:
        user = _applicant_user(request, session)
        req = Request(body.amount, body.term_months, body.method, body.collateral_type,
                      body.collateral_value, body.contract_amount)
        filed = service.file_application(session, user,
                                         subject_id=body.subject_id,
                                         product_code=body.product_code, req=req,
                                         purpose=body.purpose)
        content = json.dumps(decision_json(filed, filed.decision), ensure_ascii=False,
                             separators=(",", ":")).encode()
        session.commit()
        return Response(content, media_type="application/json")
    except BaseException:
        session.rollback()
        keep_denied_log(session)
        raise
    finally:
        session.close()


@router.get("/applications", response_model=list[ApplicationOut])
def applications(user: Me, db: DB
                 ) -> list[ApplicationOut]:
    return [application_out(a) for a in service.list_applications(db, user)]


@router.get("/queue", response_model=list[ApplicationOut])
def queue(user: Me, db: DB
          ) -> list[ApplicationOut]:
    return [application_out(a) for a in service.review_queue(db, user)]


@router.get("/applications/{application_id}", response_model=ApplicationOut)
def application(application_id: int, user: Me,
                db: DB) -> ApplicationOut:
    return application_out(service.open_application(db, user, application_id), full=True)


@router.post("/applications/{application_id}/actions", response_model=ApplicationOut,
             dependencies=[Depends(verify_csrf)])
def act(application_id: int, body: ActionIn, user: Me,
        db: DB) -> ApplicationOut:
    if body.action == "disburse":
        raise Invalid(Message(_("放款请使用放款接口")))
    try:
        action = approval.Action(body.action)
    except ValueError as exc:
        raise Invalid(Message(_("未知操作 {action}"), {"action": body.action})) from exc
    return application_out(service.act(db, user, application_id, action, body.reason), True)


@router.post("/applications/{application_id}/disburse", response_model=LoanOut,
             dependencies=[Depends(verify_csrf)])
def disburse(application_id: int, user: Me, db: DB
             ) -> LoanOut:
    return loan_out(loans.disburse(db, user, application_id), full=True)


@router.get("/loans", response_model=list[LoanOut])
def loan_list(user: Me, db: DB
              ) -> list[LoanOut]:
    return [loan_out(x) for x in loans.list_loans(db, user)]


@router.get("/loans/{loan_id}", response_model=LoanOut)
def loan(loan_id: int, user: Me, db: DB
         ) -> LoanOut:
    return loan_out(loans.open_loan(db, user, loan_id), full=True)


@router.post("/loans/{loan_id}/repayments", response_model=LoanOut,
             dependencies=[Depends(verify_csrf)])
def repay(loan_id: int, body: RepayIn, user: Me,
          db: DB) -> LoanOut:
    loans.repay(db, user, loan_id, body.amount, body.paid_on, body.note)
    return loan_out(loans.get_loan_for(db, user, loan_id), full=True)


@router.post("/loans/{loan_id}/compensation", response_model=LoanOut,
             dependencies=[Depends(verify_csrf)])
def compensate(loan_id: int, body: CompensateIn,
               user: Me,
               db: DB) -> LoanOut:
    return loan_out(loans.compensate(db, user, loan_id, body.reason), full=True)


@router.get("/villages/{village_code}/grant-preview", response_model=PreviewOut)
def grant_preview(village_code: str, user: Me,
                  db: DB, product: str = "rcb_credit"
                  ) -> PreviewOut:
    view = grants.preview(db, user, village_code, product)
    rows = [GrantRowOut(**{k: r[k] for k in GrantRowOut.model_fields})
            for r in view.rows.iter_rows(named=True)]
    return PreviewOut(village_code=village_code, product_code=product, summary=view.summary(),
                      rows=rows)


@router.post("/villages/{village_code}/grants", response_model=GrantOut,
             dependencies=[Depends(verify_csrf)])
def grant(village_code: str, body: GrantIn, user: Me,
          db: DB) -> GrantOut:
    batch = grants.grant(db, user, village_code, body.product_code)
    return GrantOut.model_validate(batch, from_attributes=True)


@router.get("/figures")
def lending_figures(user: Me, db: DB
                    ) -> dict[str, Any]:
    return figures.figures(db, user)
