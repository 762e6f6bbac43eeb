"""Demo: the demo farmer has authorised the demo bank, the bank has looked once (and been refused
once for a purpose not authorised), negative records have been notified, one objection and one
complaint wait for an answer — so every role finds something on its privacy page."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.privacy import report, service, tasks
from ctown.privacy.models import Complaint, Consent
from ctown.settings import Settings


def build(session: Session, settings: Settings, workdir: Path) -> None:
    users = {u.username: u for u in session.scalars(sa.select(User).where(
        User.username.in_(("farmer", "bank", "privacy"))))}
    tasks.notify_negatives(session)
    farmer, bank = users.get("farmer"), users.get("bank")
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
    report.credit_report(session, bank, farmer.subject_id, "loan_application")
    report.credit_report(session, bank, farmer.subject_id, "post_loan")  # refused, logged
    service.raise_objection(session, farmer, subject_id=farmer.subject_id,
                            indicator_code=None, reason="我家的承包地面积登记有误，应为 8 亩。")
    if not session.scalar(sa.select(Complaint.id)):
        service.file_complaint(session, farmer, "村公示栏上显示了我的完整手机号，请处理。")
