"""Demo: the bank has looked at the demo farmer's credit report once under the consent (and been
refused once for a purpose not authorised), so the farmer's page shows both looks."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.privacy.models import CreditQuery
from ctown.report import service


def build(session: Session, ctx: DemoContext) -> None:
    farmer, bank = ctx.user(session, Role.farmer), ctx.user(session, Role.bank_officer)
    if farmer is None or bank is None or farmer.subject_id is None:
        return
    if session.scalar(sa.select(CreditQuery.id).where(CreditQuery.actor_id == bank.id)):
        return  # built before: idempotent
    service.credit_report(session, bank, farmer.subject_id, "loan_application")
    service.credit_report(session, bank, farmer.subject_id, "post_loan")  # refused, logged
