"""A small world for the farmer pages' tests and benchmark (not the demo): lending's sample county
(:mod:`ctown.lending.sample`) and, for its first farmer, what each page shows — a grade with its
reasons, a few credit-file records from departments, a loan in repayment, an application waiting
for the village, a consent to the bank and the bank's look, a proxy mandate and its act."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.accounts.models import User
from ctown.accounts.security import hash_password
from ctown.ingest.service import record_values
from ctown.lending import loans
from ctown.lending import sample as county_sample
from ctown.lending import service as lending
from ctown.lending.approval import Action
from ctown.lending.decision import Request
from ctown.privacy import service as privacy
from ctown.proxy import service as proxy
from ctown.scoring.service import record_grade

#: The farmer's grade and why, as a scoring run writes them (scoring.reasons).
REASONS: list[dict[str, object]] = [
    {"code": "I0507", "points": 18, "direction": "up", "zh": "当期按时还款：+18 分",
     "en": "Repaid on time: +18 points"},
    {"code": "I1001", "points": 6, "direction": "up", "zh": "电费按时缴纳：+6 分",
     "en": "Electricity paid on time: +6 points"},
    {"code": "I1004", "points": -9, "direction": "down", "zh": "累计欠费金额：-9 分",
     "en": "Unpaid utility bills: -9 points"},
    {"code": "I1004", "points": 9, "direction": "improve",
     "zh": "缴清水电费欠费（最多可加 9 分）", "en": "Pay the utility arrears (up to 9 points)"},
    {"code": "next_grade", "points": 12, "direction": "next", "grade": "A1",
     "zh": "距 A1 还差 12 分", "en": "12 points to A1"},
]
#: Records of the household's file, as departments sent them (code, value).
RECORDS: list[tuple[str, str, object]] = [
    ("agri", "I0201", 8.5), ("util", "I1001", True), ("util", "I1004", 236.0),
    ("civil", "I1201", True), ("village", "I1102", 24.0)]


@dataclass
class Sample:
    farmer: User
    household: int
    users: dict[str, User]
    loan_id: int
    application_id: int


def build(session: Session, password: str | None = None) -> Sample:
    """The sample; ``password``: the farmer's (and the officers'), for a test that signs in."""
    county = county_sample.build(session, households=12)
    users = county.users
    farmer, household = users["farmer"], county.households[county_sample.VILLAGE][0]
    if password:
        for user in users.values():
            user.password_hash = hash_password(password)
    today = rules.today()
    record_grade(session, subject_id=household, score=672, grade="A2", pd=0.012,
                 reasons=REASONS, model_version="sample", actor=None)
    for dept, code, value in RECORDS:
        record_values(session, actor=None, department=dept, source=f"sample:{dept}",
                      values=[(household, code, value, today - dt.timedelta(days=30))])
    loan_id = _loan(session, users, farmer, household, today)
    app, _d = lending.apply(session, farmer, subject_id=household, product_code="rcb_credit",
                            req=Request(Decimal("50000"), 12, "equal_instalment"),
                            purpose="春耕备肥")
    bank = users["bank"]
    privacy.grant_consent(session, farmer, subject_id=household, bank_code=bank.bank_code or "",
                          purpose="loan_application")
    privacy.request_access(session, bank, household, "loan_application")
    mandate = proxy.record(session, users["village"], household_id=household,
                           proxy_id=users["proxy"].id, scopes=("query", "apply"),
                           until=today + dt.timedelta(days=180))
    proxy.confirm_paper(session, users["village"], mandate.id, "SAMPLE-FARMER-1")
    from ctown.ingest.creditfile import credit_file

    credit_file(session, users["proxy"], household)  # the proxy's look, on the farmer's pages
    return Sample(farmer, household, dict(users), loan_id, app.id)


def _loan(session: Session, users: dict[str, User], farmer: User, household: int,
          today: dt.date) -> int:
    """An insured loan through the four steps, paid out 40 days ago, its first instalment paid."""
    app, _d = lending.apply(session, farmer, subject_id=household, product_code="rcb_insured",
                            req=Request(Decimal("20000"), 12, "equal_instalment"),
                            purpose="购买植保无人机")
    for who, action in (("village", Action.village_approve), ("township", Action.township_approve),
                        ("bank", Action.bank_approve)):
        lending.act(session, users[who], app.id, action)
    loan = loans.disburse(session, users["bank"], app.id, on=today - dt.timedelta(days=40))
    first = loan.instalments[0]
    loans.repay(session, users["bank"], loan.id, first.principal + first.interest,
                paid_on=first.due_on)
    return loan.id
