"""The farmer's demo builder on the test county (both databases): the demo farmer's household
gets a loan walked through the four steps and in repayment, so the home shows a next instalment;
a second run changes nothing; the farmer role lands on /farmer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import build_county

from ctown.access import rules
from ctown.capabilities import DemoContext, capability
from ctown.crypto import FieldCipher
from ctown.farmer.demo import build
from ctown.farmer.summary import farmer_summary
from ctown.lending.models import Loan
from ctown.registry.models import Subject
from ctown.scoring.service import record_grade
from ctown.settings import Settings


def test_demo_farmer_repays_a_loan(session: Session, tmp_path: Path) -> None:
    county = build_county(session, FieldCipher.load(tmp_path / "k.json"))
    county.users["bank"].bank_code = "RCB"  # the demo bank, whose products the files hold
    farmer = county.users["farmer"]
    assert farmer.subject_id is not None
    head = session.scalar(sa.select(Subject).where(Subject.household_id == farmer.subject_id,
                                                   Subject.relation == rules.HEAD))
    assert head is not None
    head.birth_date = dt.date(1980, 5, 1)  # within the products' ages (18–65)
    record_grade(session, subject_id=farmer.subject_id, score=660, grade="B1", pd=0.02,
                 reasons=[], model_version="demo", actor=None)
    ctx = DemoContext.of(Settings(var_dir=tmp_path), tmp_path, county.users.values(),
                         cipher=county.cipher)
    assert capability("farmer").demo_builder() is build
    build(session, ctx)
    build(session, ctx)  # idempotent
    loans = session.scalars(sa.select(Loan).where(Loan.subject_id == farmer.subject_id)).all()
    assert [(loan.product_code, loan.principal) for loan in loans] == [("rcb_insured", 20000)]
    paid = [i.number for i in loans[0].instalments if i.paid_on is not None]
    assert paid == [1]
    summary = farmer_summary(session, farmer, farmer.subject_id)
    assert summary.next_instalment is not None
    assert summary.next_instalment.due_on == loans[0].instalments[1].due_on


def test_demo_without_a_farmer_builds_nothing(session: Session, tmp_path: Path) -> None:
    ctx = DemoContext(settings=Settings(var_dir=tmp_path), workdir=tmp_path,
                      cipher=FieldCipher.load(tmp_path / "k.json"))
    build(session, ctx)
    assert session.scalar(sa.select(sa.func.count()).select_from(Loan)) == 0
