"""Instalment reminders by SMS (还款提醒): a few days before an instalment falls due.

``ctown channels remind`` (daily, after the loan assessment) queues one SMS per instalment not
fully paid that falls due ``days`` days from today (Beijing date), to the borrower's phone on file
(a household: its head's). A reminder may be declined: ``ref_kind = 'reminder'`` is one of the
kinds an opt-out (退订) stops (``ctown.notify.optout``). Run twice, it queues nothing new: an
instalment that already has a reminder is skipped.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.channels.sms import fit
from ctown.farmer.words import day, yuan
from ctown.i18n import _, translate
from ctown.lending.models import Instalment, Loan, LoanStatus
from ctown.lending.products import load_products
from ctown.notify import service as notify
from ctown.notify.channels import SMS
from ctown.notify.models import Notification

SOURCE = "channels"
KIND = "reminder"
DAYS_AHEAD = 3
REMIND = _("信用乡提醒：{product}{day}应还{amount}，请按时还款。")
HINT = _("回TD退订")


def queue_due(session: Session, today: dt.date | None = None, days: int = DAYS_AHEAD) -> int:
    """Queue the reminders of the instalments due ``days`` from ``today``; how many."""
    due_on = (today or rules.today()) + dt.timedelta(days=days)
    left = Instalment.principal + Instalment.interest - Instalment.paid
    reminded = sa.select(Notification.ref_id).where(Notification.ref_kind == KIND,
                                                    Notification.source == SOURCE)
    rows = session.execute(
        sa.select(Instalment.id, Loan.subject_id, Loan.product_code, left)
        .join(Loan, Loan.id == Instalment.loan_id)
        .where(Instalment.due_on == due_on, Loan.status == LoanStatus.active, left > 0,
               Instalment.id.not_in(reminded))
        .order_by(Instalment.id)).all()
    products = load_products()
    for instalment_id, subject_id, code, amount in rows:
        product = products.get(code)
        text = fit(translate(REMIND, product=product.name_zh if product else code,
                             day=day(due_on), amount=yuan(amount)), [translate(HINT)])
        notify.queue(session, channel=SMS, msgid="{text}", params={"text": text}, source=SOURCE,
                     subject_id=subject_id, ref_kind=KIND, ref_id=instalment_id)
    return len(rows)
