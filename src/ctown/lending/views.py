"""Pages of financial services: the short application form (large text, for an elderly farmer or
the proxy beside them), the decision, review queues, an application with its history, loans with
their schedules, the whole-village grant preview and its printable list, and the figures."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, TypedDict

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ctown.accounts.models import User
from ctown.errors import DomainError, Invalid
from ctown.i18n import Message, _
from ctown.lending import approval, figures, grants, loans, notices, service
from ctown.lending.decision import Request as LoanRequest
from ctown.lending.loanbook import CATEGORY_LABELS, Category
from ctown.lending.products import Product, load_products
from ctown.web.deps import DB, Me, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/lending")
CSRF = [Depends(verify_csrf)]


def _nav(href: str, label: str, resource: str, purpose: str = "view") -> dict[str, object]:
    """A menu entry shown to whoever reaches the resource."""
    return {"href": href, "label": label, "resource": resource, "purpose": purpose}


#: The menu: loans for whoever has loans to see (the household, its proxy, officers, banks,
#: insurers); the figures for the officers, oversight and banks.
NAV = [_nav("/lending", _("贷款"), "loan"),
       _nav("/lending/figures", _("金融指标"), "lending_figures")]
#: "Apply for …" on a subject's page: for those who file for other households (the proxy, the
#: village officer), not for the household itself (its own form is in the menu).
SUBJECT_LINKS = [{"href": "/lending/apply?subject={id}", "label": _("代为申请贷款"),
                  "kinds": ("household", "entity"), "resource": "subject",
                  "purpose": "act_for_other"}]


class _Context(TypedDict):
    """What every lending page is rendered with (named keys: none lands on ``status_code``)."""

    user: User
    states: dict[approval.State, str]
    action_labels: dict[str, str]
    categories: dict[Category, str]
    products: dict[str, Product]
    loan_states: dict[str, str]
    channels: dict[str, str]


def _ctx(user: User) -> _Context:
    return {"user": user, "states": approval.STATE_LABELS, "action_labels": {
        a.value: label for a, label in approval.ACTION_LABELS.items()},
        "categories": CATEGORY_LABELS, "products": load_products(),
        "loan_states": loans.STATUS_LABELS, "channels": service.CHANNEL_LABELS}


@router.get("", response_class=HTMLResponse)
def home(request: Request, user: Me, db: DB) -> HTMLResponse:
    return render(request, "lending/home.html", **_ctx(user),
                  queue=service.review_queue(db, user), deadline=service.deadline,
                  applications=service.list_applications(db, user, 50),
                  loans=loans.list_loans(db, user, 50), inbox=notices.inbox(db, user.id, 10),
                  can_apply=service.may_apply(user))


@router.get("/apply", response_class=HTMLResponse)
def apply_form(request: Request, user: Me, subject: int | None = None) -> HTMLResponse:
    own = service.apply_form_for(user)
    return render(request, "lending/apply.html", **_ctx(user), subject_id=subject or own,
                  names_subject=own is None)


def _decimal(text: str | None) -> Decimal | None:
    if text is None or not text.strip():
        return None
    try:
        return Decimal(text.replace(",", "").strip())
    except InvalidOperation as exc:
        raise Invalid(Message(_("金额格式不正确：{value}"), {"value": text})) from exc


@router.post("/apply", response_class=HTMLResponse, dependencies=CSRF)
def apply_submit(request: Request, user: Me, db: DB, product_code: Annotated[str, Form()],
                 amount: Annotated[str, Form()], term_months: Annotated[int, Form()],
                 method: Annotated[str, Form()] = "equal_instalment",
                 subject_id: Annotated[int | None, Form()] = None,
                 purpose: Annotated[str | None, Form()] = None,
                 collateral_type: Annotated[str | None, Form()] = None,
                 collateral_value: Annotated[str | None, Form()] = None,
                 contract_amount: Annotated[str | None, Form()] = None) -> HTMLResponse:
    value = _decimal(amount)
    if value is None or value <= 0:
        raise Invalid(Message(_("请填写申请金额")))
    req = LoanRequest(value, term_months, method, collateral_type or None,
                      _decimal(collateral_value), _decimal(contract_amount))
    app, decision = service.apply(db, user, subject_id=subject_id, product_code=product_code,
                                  req=req, purpose=purpose)
    return render(request, "lending/decision.html", **_ctx(user), app=app, decision=decision)


@router.get("/applications/{application_id}", response_class=HTMLResponse)
def application_page(request: Request, application_id: int, user: Me, db: DB) -> HTMLResponse:
    app = service.open_application(db, user, application_id)
    return render(request, "lending/application.html", **_ctx(user), app=app,
                  dl=service.deadline(app), actions=service.actions_for(db, user, app),
                  proxy=service.proxy_of(db, app))


@router.post("/applications/{application_id}/action", dependencies=CSRF)
def application_action(request: Request, application_id: int, user: Me, db: DB,
                       action: Annotated[str, Form()],
                       reason: Annotated[str | None, Form()] = None) -> RedirectResponse:
    if action == "disburse":
        loan = loans.disburse(db, user, application_id)
        return RedirectResponse(f"/lending/loans/{loan.id}", status_code=303)
    try:
        service.act(db, user, application_id, approval.Action(action), reason)
    except ValueError as exc:
        raise Invalid(Message(_("未知操作 {action}"), {"action": action})) from exc
    return RedirectResponse(f"/lending/applications/{application_id}", status_code=303)


@router.get("/loans/{loan_id}", response_class=HTMLResponse)
def loan_page(request: Request, loan_id: int, user: Me, db: DB) -> HTMLResponse:
    loan = loans.open_loan(db, user, loan_id)
    return render(request, "lending/loan.html", **_ctx(user), loan=loan,
                  actions=loans.actions_for(db, user, loan))


@router.post("/loans/{loan_id}/repay", dependencies=CSRF)
def loan_repay(loan_id: int, user: Me, db: DB, amount: Annotated[str, Form()]
               ) -> RedirectResponse:
    loans.repay(db, user, loan_id, _decimal(amount) or Decimal(0))
    return RedirectResponse(f"/lending/loans/{loan_id}", status_code=303)


@router.post("/loans/{loan_id}/compensate", dependencies=CSRF)
def loan_compensate(loan_id: int, user: Me, db: DB, reason: Annotated[str, Form()]
                    ) -> RedirectResponse:
    loans.compensate(db, user, loan_id, reason)
    return RedirectResponse(f"/lending/loans/{loan_id}", status_code=303)


@router.get("/villages/{village_code}/grant", response_class=HTMLResponse)
def grant_preview(request: Request, village_code: str, user: Me, db: DB,
                  product: str = "rcb_credit") -> HTMLResponse:
    view = grants.preview(db, user, village_code, product)
    return render(request, "lending/grant_preview.html", **_ctx(user), view=view,
                  summary=view.summary(), reasons=grants.REASONS,
                  can_grant=grants.may_grant(user, view.product),
                  history=grants.grants_of_village(db, user, village_code))


@router.post("/villages/{village_code}/grant", dependencies=CSRF)
def grant_submit(village_code: str, user: Me, db: DB,
                 product_code: Annotated[str, Form()] = "rcb_credit") -> RedirectResponse:
    batch = grants.grant(db, user, village_code, product_code)
    return RedirectResponse(f"/lending/grants/{batch.id}/print", status_code=303)


@router.get("/grants/{grant_id}/print", response_class=HTMLResponse)
def grant_print(request: Request, grant_id: int, user: Me, db: DB) -> HTMLResponse:
    batch = grants.get_grant_for(db, user, grant_id)
    return render(request, "lending/grant_print.html", **_ctx(user), batch=batch,
                  lines=grants.lines_of(db, batch.id, user))


@router.get("/figures", response_class=HTMLResponse)
def figures_page(request: Request, user: Me, db: DB) -> HTMLResponse:
    return render(request, "lending/figures.html", **_ctx(user),
                  fig=figures.figures(db, user))


__all__ = ["NAV", "SUBJECT_LINKS", "DomainError", "router"]
