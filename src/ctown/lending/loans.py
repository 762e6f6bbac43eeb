"""Loans (贷款): contract and disbursement after the bank's approval, the instalment schedule,
repayments, days past due and the five-category classification, and the insurer's compensation
(代偿) that closes a force-majeure default. Repayments and overdues are written into the credit
file (:mod:`ctown.lending.credit_file`) so the behaviour score sees them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.looks import record_look
from ctown.access.scope import allowed, get_for, reaches_row, require, scope
from ctown.accounts.models import User
from ctown.db import utcnow
from ctown.errors import Conflict, Invalid
from ctown.i18n import Message, _
from ctown.lending import credit_file, loanbook, notices, schedule, service, workdays
from ctown.lending.access import LOANS
from ctown.lending.approval import Action, State
from ctown.lending.models import Instalment, Loan, LoanStatus, Repayment
from ctown.lending.products import get_product
from ctown.registry.models import Subject
from ctown.registry.service import record_change

#: Where a loan stands, in words (``Loan.status``).
STATUS_LABELS: dict[str, str] = {LoanStatus.active: _("还款中"), LoanStatus.closed: _("已结清"),
                                 LoanStatus.compensated: _("保险已代偿")}
#: The purpose of the query-log entry of a loan opened by others (the farmer's page).
LOOK_PURPOSE = "loan"


def _today() -> dt.date:
    return workdays.local_date(utcnow())


def disburse(session: Session, actor: User, application_id: int,
             on: dt.date | None = None) -> Loan:
    """Sign the contract and pay out an approved application (bank officer of its bank)."""
    require(actor, "application", "disburse")
    app = service.act(session, actor, application_id, Action.disburse)
    product = get_product(app.product_code)
    if app.offer_amount is None or app.offer_rate_pct is None or product is None:
        raise Conflict(Message(_("该申请没有有效的授信方案")))
    on = on or _today()
    loan = Loan(contract_no=f"{app.bank_code}-{on:%Y%m%d}-{app.id:06d}", application_id=app.id,
                subject_id=app.subject_id, product_code=app.product_code,
                product_kind=product.kind, bank_code=app.bank_code,
                village_code=app.village_code, grade=app.grade, principal=app.offer_amount,
                rate_pct=app.offer_rate_pct, term_months=app.term_months, method=app.method,
                disbursed_on=on, disbursed_by=actor.id, outstanding=app.offer_amount,
                assessed_on=on)
    session.add(loan)
    session.flush()
    rows = schedule.build(app.method, app.offer_amount, app.offer_rate_pct, app.term_months, on)
    session.add_all([Instalment(loan_id=loan.id, number=r.number, due_on=r.due_on,
                                principal=r.principal, interest=r.interest) for r in rows])
    session.flush()
    session.refresh(loan, ["instalments"])
    notices.queue(session, channel="sms", subject_id=loan.subject_id, application_id=app.id,
                  msgid=_("贷款 {contract} 已放款 {amount} 元，首期 {due} 应还 {first} 元"),
                  params={"contract": loan.contract_no, "amount": loan.principal,
                          "due": rows[0].due_on, "first": rows[0].amount})
    credit_file.record(session, actor, [
        (loan.subject_id, credit_file.BALANCE, float(_balance(session, loan.subject_id)), on)],
        source=f"lending:loan:{loan.id}")
    return loan


def _balance(session: Session, subject_id: int) -> Decimal:
    total = session.scalar(sa.select(sa.func.sum(Loan.outstanding)).where(
        Loan.subject_id == subject_id, Loan.status == LoanStatus.active))
    return Decimal(total or 0)


def get_loan_for(session: Session, actor: User | None, loan_id: int, purpose: str = "view"
                 ) -> Loan:
    """The loan, or NotFound when the actor may not reach it (another bank's: the denial logged)."""
    loan: Loan = get_for(session, actor, LOANS, loan_id, purpose)
    return loan


def open_loan(session: Session, actor: User, loan_id: int) -> Loan:
    """The loan opened to be read (its page, the API's detail), as :func:`get_loan_for`; a look
    on the borrower's query log when the reader is not the household's own side (the bank, the
    insurer, the officers). One per request: the reads that serve an action do not count."""
    loan = get_loan_for(session, actor, loan_id)
    subject = session.get(Subject, loan.subject_id)
    if subject is not None:
        record_look(session, actor, subject, LOOK_PURPOSE)
    return loan


def list_loans(session: Session, actor: User | None, limit: int = 200) -> list[Loan]:
    return list(session.scalars(scope(sa.select(Loan), actor, LOANS)
                                .order_by(Loan.id.desc()).limit(limit)))


def actions_for(session: Session, actor: User, loan: Loan) -> frozenset[str]:
    """What the actor may do now with this (visible) loan: record a repayment, compensate."""
    if loan.status != LoanStatus.active:
        return frozenset()
    wanted = ["repay"] + (["compensate"] if loan.days_past_due > 0 else [])
    return frozenset(p for p in wanted if allowed(actor, "loan", p)
                     and reaches_row(session, actor, LOANS, loan.id, p))


def _dues(loan: Loan) -> list[loanbook.Due]:
    return [loanbook.Due(i.number, i.due_on, i.principal + i.interest, i.paid, i.paid_on)
            for i in loan.instalments]


def repay(session: Session, actor: User, loan_id: int, amount: Decimal,
          paid_on: dt.date | None = None, note: str | None = None) -> list[loanbook.Allocation]:
    """Record a repayment (bank officer of the loan's bank); on-time instalments go to the credit
    file."""
    require(actor, "loan", "repay")
    loan = get_loan_for(session, actor, loan_id, "repay")
    if loan.status != LoanStatus.active:
        raise Conflict(Message(_("该贷款已结清")))
    amount = schedule.to_fen(Decimal(amount))
    if amount <= 0:
        raise Invalid(Message(_("还款金额必须大于零")))
    paid_on = paid_on or _today()
    allocations = _apply(session, actor, loan, amount, paid_on, "borrower", note)
    settled = [a for a in allocations if a.settled]
    # One value per settled instalment (+5 points each when on time); the instalment numbers
    # make the source unique, so two instalments repaid the same day are two records.
    credit_file.record(session, actor, [(loan.subject_id, credit_file.ON_TIME, a.on_time, paid_on)
                                        for a in settled],
                       source=f"lending:loan:{loan.id}:instalments:"
                              + "-".join(str(a.number) for a in settled))
    assess(session, actor, loan, paid_on)
    return allocations


def _apply(session: Session, actor: User | None, loan: Loan, amount: Decimal, on: dt.date,
           source: str, note: str | None) -> list[loanbook.Allocation]:
    dues = _dues(loan)
    outstanding = sum((d.outstanding for d in dues), Decimal("0.00"))
    if amount > outstanding:
        raise Invalid(Message(_("还款金额 {amount} 元超过剩余应还 {left} 元"),
                              {"amount": amount, "left": outstanding}))
    allocations, _rest = loanbook.allocate(dues, amount, on)
    by_number = {i.number: i for i in loan.instalments}
    for due in dues:
        inst = by_number[due.number]
        inst.paid, inst.paid_on = due.paid, due.paid_on
    session.add(Repayment(loan_id=loan.id, paid_on=on, amount=amount, source=source, note=note,
                          recorded_by=actor.id if actor else None))
    # Within an instalment the interest is settled first, then the principal.
    loan.outstanding = sum((i.principal - max(Decimal(0), min(i.paid - i.interest, i.principal))
                            for i in loan.instalments), Decimal("0.00"))
    if all(i.paid >= i.principal + i.interest for i in loan.instalments):
        loan.status = LoanStatus.closed if source == "borrower" else LoanStatus.compensated
        loan.outstanding, loan.closed_at = Decimal("0.00"), utcnow()
    record_change(session, actor=actor, source="lending", action="repay", entity="loan",
                  subject_id=loan.subject_id, payload={"loan": loan.id, "amount": str(amount),
                                                       "on": on.isoformat(), "source": source})
    return allocations


def assess(session: Session, actor: User | None, loan: Loan, today: dt.date) -> Loan:
    """Days past due and classification as of ``today``; a change goes to the credit file."""
    dues = _dues(loan)
    dpd = loanbook.days_past_due(dues, today) if loan.status == LoanStatus.active else 0
    category = loanbook.classify(dpd)
    changed = (dpd, category) != (loan.days_past_due, loan.classification)
    loan.days_past_due, loan.classification = dpd, category
    loan.overdue_amount = loanbook.overdue_amount(dues, today) if loan.status == LoanStatus.active \
        else Decimal("0.00")
    loan.assessed_on = today
    if changed:
        credit_file.record(session, actor, [
            (loan.subject_id, credit_file.OVERDUE_DAYS, dpd, today),
            (loan.subject_id, credit_file.OVERDUE_AMOUNT, float(loan.overdue_amount), today),
            (loan.subject_id, credit_file.CLASSIFICATION, loanbook.CATEGORY_CODES[category],
             today)], source=f"lending:loan:{loan.id}")
        if dpd > 0:
            notices.queue(session, channel="sms", subject_id=loan.subject_id,
                          msgid=_("贷款 {contract} 已逾期 {days} 天，逾期金额 {amount} 元，"
                                  "请尽快还款"),
                          params={"contract": loan.contract_no, "days": dpd,
                                  "amount": loan.overdue_amount})
    return loan


def assess_all(session: Session, actor: User | None, today: dt.date | None = None) -> int:
    """Daily run over active loans (``ctown lending assess``)."""
    today = today or _today()
    loans = session.scalars(sa.select(Loan).where(Loan.status == LoanStatus.active)).all()
    for loan in loans:
        assess(session, actor, loan, today)
    return len(loans)


def compensate(session: Session, actor: User, loan_id: int, reason: str,
               on: dt.date | None = None) -> Loan:
    """The insurer pays what is left of a force-majeure default (信用+保险), closing it."""
    require(actor, "loan", "compensate")
    loan = get_loan_for(session, actor, loan_id, "compensate")
    if loan.status != LoanStatus.active or loan.days_past_due <= 0:
        raise Conflict(Message(_("只有逾期中的保险贷款可以代偿")))
    if not reason.strip():
        raise Invalid(Message(_("代偿须说明不可抗力事由")))
    on = on or _today()
    left = sum((d.outstanding for d in _dues(loan)), Decimal("0.00"))
    _apply(session, actor, loan, left, on, "insurer", reason.strip())
    assess(session, actor, loan, on)
    notices.queue(session, channel="sms", subject_id=loan.subject_id,
                  msgid=_("贷款 {contract} 因不可抗力由保险公司代偿 {amount} 元，已结清"),
                  params={"contract": loan.contract_no, "amount": left})
    return loan


def instalments_of(loan: Loan) -> list[Instalment]:
    return list(loan.instalments)


__all__ = ["State", "actions_for", "assess", "assess_all", "compensate", "disburse",
           "get_loan_for", "list_loans", "open_loan", "repay"]
