"""The farmer's summary (ctown.farmer.summary): what the home page, SMS and voice read out —
checked against hand-written values from the packaged products and grade table, on both
databases, and as every persona (reached as the grade is; "not found" otherwise)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, build_county
from tests.personas import ALL, SEES_HOME, Personas, attempt, build_personas

from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import NotFound
from ctown.farmer.summary import NextInstalment, farmer_summary
from ctown.lending.models import CreditLine, Instalment, Loan, VillageGrant
from ctown.privacy.models import CreditQuery
from ctown.registry.models import Subject
from ctown.scoring.service import record_grade

TODAY = dt.date(2026, 12, 3)
REASONS = [
    {"code": "I0301", "points": 14, "direction": "up", "zh": "按时还款记录：+14 分",
     "en": "On-time repayments: +14 points"},
    {"code": "I0101", "points": 4, "direction": "up", "zh": "户主年龄：+4 分",
     "en": "Age of the household head: +4 points"},
    {"code": "I0502", "points": -22, "direction": "down", "zh": "逾期记录：-22 分",
     "en": "Overdue records: -22 points"},
    {"code": "I0601", "points": -3, "direction": "down", "zh": "欠缴水费：-3 分",
     "en": "Unpaid water bills: -3 points"},
    {"code": "I0502", "points": 22, "direction": "improve", "zh": "按期还清逾期欠款（最多可加 22 分）",
     "en": "Repay the overdue amount (up to 22 points)"},
    {"code": "next_grade", "points": 9, "direction": "next", "grade": "A2",
     "zh": "距 A2 还差 9 分", "en": "9 points to A2"},
]


@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    return build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))


def _grade(session: Session, subject_id: int, grade: str = "B1") -> None:
    record_grade(session, subject_id=subject_id, score=650, grade=grade, pd=0.02,
                 reasons=REASONS, model_version="m001", actor=None)


def _loan(session: Session, subject_id: int, paid_first: Decimal) -> Loan:
    loan = Loan(contract_no=f"RCB-{subject_id}", subject_id=subject_id, product_code="rcb_credit",
                product_kind="pure_credit", bank_code="RCB001", village_code=VILLAGE_A,
                grade="B1", principal=Decimal("30000.00"), rate_pct=Decimal("3.70"),
                term_months=2, method="equal_instalment", disbursed_on=dt.date(2026, 10, 20),
                outstanding=Decimal("30000.00"))
    session.add(loan)
    session.flush()
    session.add_all([
        Instalment(loan_id=loan.id, number=1, due_on=dt.date(2026, 11, 20),
                   principal=Decimal("14953.94"), interest=Decimal("92.50"), paid=paid_first),
        Instalment(loan_id=loan.id, number=2, due_on=dt.date(2026, 12, 20),
                   principal=Decimal("15046.06"), interest=Decimal("46.39"))])
    session.flush()
    return loan


class TestContent:
    def test_rated_household_in_chinese(self, session: Session, people: Personas) -> None:
        _grade(session, people.home)
        s = farmer_summary(session, people["farmer"], people.home, today=TODAY)
        assert (s.subject_id, s.name_masked, s.grade) == (people.home, "张*", "B1")
        assert s.grade_words == "信用良好一档（B1级）"
        # B1, household: collateral 30万 at 4.35 × 0.90, insurance 20万 at 4.35 × 0.80, pure
        # credit 15万 at 4.35 × 0.85 (the product files); supply chain's 12万 is the fourth.
        assert s.benefits == [
            "信用+抵押贷（宅基地使用权、大型农机）：最高 30万元，年利率 3.92%，不需要担保人",
            "信用+保险贷（不可抗力代偿）：最高 20万元，年利率 3.48%，不需要担保人，10万元以内可当场预批",
            "信用贷（纯信用）：最高 15万元，年利率 3.7%，不需要担保人，10万元以内可当场预批",
        ]
        assert s.limit == Decimal("300000")
        assert s.reasons == ["逾期记录：-22 分", "按时还款记录：+14 分", "户主年龄：+4 分"]
        assert s.tip == "按期还清逾期欠款（最多可加 22 分）"
        assert s.next_instalment is None

    def test_english(self, session: Session, people: Personas) -> None:
        _grade(session, people.home, "C2")
        s = farmer_summary(session, None, people.home, locale="en", today=TODAY)
        assert s.grade_words == "Credit: Fair (tier 2) (grade C2)"
        assert s.reasons[0] == "Overdue records: -22 points"
        assert s.benefits[0] == ("Credit plus collateral loan (homestead use right, large "
                                 "machinery): up to 100,000 yuan, 4.57% a year, no guarantor needed")
        assert "a guarantor is needed" in s.benefits[2]  # pure credit, C2: guarantor_required

    def test_not_rated(self, session: Session, people: Personas) -> None:
        s = farmer_summary(session, None, people.home, today=TODAY)
        assert (s.grade, s.grade_words, s.benefits, s.limit) == (None, "还没有信用等级", [], None)
        assert (s.reasons, s.tip, s.next_instalment) == ([], None, None)

    def test_next_instalment_overdue_first(self, session: Session, people: Personas) -> None:
        member = session.scalar(sa.select(Subject.id).where(Subject.household_id == people.home))
        assert member is not None
        _grade(session, people.home)
        _loan(session, member, paid_first=Decimal("5000.00"))  # a member's loan counts
        s = farmer_summary(session, people["farmer"], people.home, today=TODAY)
        assert s.next_instalment == NextInstalment(dt.date(2026, 11, 20), Decimal("10046.44"),
                                                   "信用贷（纯信用）", True)

    def test_next_instalment_after_paid(self, session: Session, people: Personas) -> None:
        _loan(session, people.home, paid_first=Decimal("15046.44"))
        s = farmer_summary(session, None, people.home, today=dt.date(2026, 11, 25))
        assert s.next_instalment == NextInstalment(dt.date(2026, 12, 20), Decimal("15092.45"),
                                                   "信用贷（纯信用）", False)

    def test_credit_line_is_the_best_limit(self, session: Session, people: Personas) -> None:
        _grade(session, people.home, "C2")  # products give at most 10万 at C2
        grant = VillageGrant(village_code=VILLAGE_A, product_code="rcb_credit", bank_code="RCB001",
                             valid_until=dt.date(2027, 6, 30), households=3, granted=1,
                             total_limit=Decimal("120000"), granted_at=utcnow())
        session.add(grant)
        session.flush()
        session.add(CreditLine(grant_id=grant.id, subject_id=people.home, product_code="rcb_credit",
                               grade="C2", amount=Decimal("120000.00"), rate_pct=Decimal("4.79"),
                               valid_until=dt.date(2027, 6, 30), status="active"))
        session.flush()
        s = farmer_summary(session, people["farmer"], people.home, today=TODAY)
        assert s.limit == Decimal("120000.00")
        assert s.benefits[0] == "已有授信额度 12万元，年利率 4.79%，2027年6月30日前可用"
        assert len(s.benefits) == 3


class TestPersonas:
    @pytest.mark.parametrize("name", ALL)
    def test_reach(self, session: Session, people: Personas, name: str) -> None:
        """As the grade: the household's side and the officers of its place; others not found."""
        _grade(session, people.home)
        got = attempt(session, lambda: farmer_summary(session, people[name], people.home,
                                                      today=TODAY))
        assert got == ("ok" if name in SEES_HOME else "404")

    def test_other_farmer_not_found(self, session: Session, people: Personas) -> None:
        with pytest.raises(NotFound):
            farmer_summary(session, people["farmer"], people.neighbour)

    def test_looks_logged_for_outsiders_only(self, session: Session, people: Personas) -> None:
        _grade(session, people.home)
        farmer_summary(session, people["farmer"], people.home)
        farmer_summary(session, None, people.home)
        farmer_summary(session, people["village"], people.home)
        looks = session.scalars(sa.select(CreditQuery.actor_id).where(
            CreditQuery.subject_id == people.home)).all()
        assert looks == [people["village"].id]
