"""Demo: the demo farmer's household repays a loan — an insured loan walked through the four steps
by the demo officers and paid out forty days ago, its first instalment paid — so that the
farmer's home (/farmer, where the demo farmer lands after signing in) shows the grade with what
it brings, why, one way to improve, and the next instalment."""

from __future__ import annotations

import datetime as dt
from contextlib import suppress
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.errors import DomainError
from ctown.lending import loans, service
from ctown.lending.approval import Action, State
from ctown.lending.decision import Request
from ctown.lending.models import Loan

PRODUCT, AMOUNT, MONTHS = "rcb_insured", Decimal("20000"), 12
PAID_OUT_DAYS_AGO = 40


def build(session: Session, ctx: DemoContext) -> None:
    farmer, village = ctx.user(session, Role.farmer), ctx.user(session, Role.village_officer)
    township, bank = ctx.user(session, Role.township_officer), ctx.user(session, Role.bank_officer)
    if farmer is None or farmer.subject_id is None or None in (village, township, bank):
        return
    assert village is not None and township is not None and bank is not None
    household = farmer.subject_id
    if session.scalar(sa.select(Loan.id).where(Loan.subject_id.in_(
            rules.household_members([household]))).limit(1)) is not None:
        return  # built before (or the household already borrows): idempotent
    try:
        app, _decision = service.apply(session, farmer, subject_id=household,
                                       product_code=PRODUCT, req=Request(AMOUNT, MONTHS,
                                                                         "equal_instalment"),
                                       purpose="购买植保无人机")
    except DomainError:  # e.g. the head is past the product's age: the home shows no loan
        return
    if app.state != State.submitted:
        return
    for actor, action in ((village, Action.village_approve), (township, Action.township_approve),
                          (bank, Action.bank_approve)):
        service.act(session, actor, app.id, action)
    loan = loans.disburse(session, bank, app.id,
                          on=rules.today() - dt.timedelta(days=PAID_OUT_DAYS_AGO))
    first = loan.instalments[0]
    with suppress(DomainError):
        loans.repay(session, bank, loan.id, first.principal + first.interest,
                    paid_on=first.due_on)
