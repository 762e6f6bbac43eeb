"""Demo: the demo farmer has authorised the demo bank, negative records have been notified, one
objection and one complaint wait for an answer — so every role finds something on its privacy
page. The bank's looks under that consent are the report capability's demo."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.privacy import service, tasks
from ctown.privacy.models import Complaint, Consent


def build(session: Session, ctx: DemoContext) -> None:
    tasks.notify_negatives(session)
    farmer, bank = ctx.user(session, Role.farmer), ctx.user(session, Role.bank_officer)
    if farmer is None or bank is None or farmer.subject_id is None:
        return
    if session.scalar(sa.select(Consent.id).where(Consent.subject_id == farmer.subject_id,
                                                  Consent.scope != "collect")):
        return  # built before: idempotent (a collection consent comes with the county)
    service.grant_consent(session, farmer, subject_id=farmer.subject_id,
                          bank_code=bank.bank_code or "RCB", purpose="loan_application",
                          days=365)
    service.grant_consent(session, farmer, subject_id=farmer.subject_id,
                          bank_code=bank.bank_code or "RCB", purpose="loan_application",
                          scope="provide", days=30)
    service.raise_objection(session, farmer, subject_id=farmer.subject_id,
                            indicator_code=None, reason="我家的承包地面积登记有误，应为 8 亩。")
    if not session.scalar(sa.select(Complaint.id)):
        service.file_complaint(session, farmer, "村公示栏上显示了我的完整手机号，请处理。")
