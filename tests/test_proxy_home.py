"""The proxy at work (R-6.3), both databases: the proxy's home lists the households that
authorised them with each one's grade and open items, counted through the access layer (what a
mandate does not cover is "not covered", not a count); every act of a proxy is texted to the
household (an SMS in the outbox of the same transaction) and marked "由代理员 X 代办"."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, build_county
from tests.personas import ALL, BANK, Personas, attempt, build_personas, mandate

from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.feedback import service as feedback
from ctown.ingest.creditfile import credit_file
from ctown.lending import service as lending
from ctown.lending.approval import Action
from ctown.lending.decision import Request
from ctown.notify.models import Notification
from ctown.privacy import service as privacy
from ctown.proxy import home, marks
from ctown.proxy.service import State
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord

REQ = Request(Decimal("20000"), 12, "equal_instalment")


@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    session.execute(sa.update(Subject).where(Subject.household_id == people.home)
                    .values(birth_date=dt.date(1980, 5, 1)))
    session.add(GradeRecord(subject_id=people.home, score=700, grade="A1", pd=0.01, reasons=[],
                            model_version="test", scored_at=utcnow(), is_current=True))
    for scope in ("query", "apply", "consent"):
        user = create_user(session, username=f"proxy_{scope}", role=Role.credit_proxy,
                           region_code=VILLAGE_A, password=None)
        people.users[f"proxy_{scope}"] = user
        session.add(mandate(user.id, people.home, scopes=(scope,),
                            valid_until=utcnow() + dt.timedelta(days=30)))
    session.flush()
    return people


def _proxy_sms(session: Session, people: Personas) -> list[tuple[str | None, str]]:
    """The act SMS in the outbox: (what it is about, the proxy named)."""
    rows = session.execute(sa.select(Notification.ref_kind, Notification.params).where(
        Notification.source == "proxy", Notification.channel == "sms",
        Notification.msgid == marks.TELL, Notification.subject_id == people.home)
        .order_by(Notification.id)).all()
    return [(kind, params["proxy"]) for kind, params in rows]


# -- the home --------------------------------------------------------------------------------------
def test_the_home_shows_grade_and_open_items(session: Session, people: Personas,
                                             tmp_path: Path) -> None:
    app, _d = lending.apply(session, people["farmer"], subject_id=None, product_code="rcb_credit",
                            req=REQ)
    assert app.state == "submitted"
    privacy.raise_objection(session, people["farmer"], subject_id=people.home,
                            indicator_code=None, reason="记录有误")
    item = feedback.submit(session, people["farmer"], subject_id=None, channel="page",
                           text="反馈", cipher=FieldCipher.load(tmp_path / "k.json"))
    cards = {c.row.proxy_name: c for c in home.cards(session, people["proxy"])}
    card = cards[people["proxy"].display_name]
    assert (card.household_id, card.grade, card.applications, card.objections) == (
        people.home, "A1", 1, 1)
    assert feedback.open_counts(session, people["proxy"], [people.home]) == {people.home: 1}
    feedback.answer(session, people["village"], item.id, "好",
                    cipher=FieldCipher.load(tmp_path / "k.json"))
    assert feedback.open_counts(session, people["proxy"], [people.home]) == {}
    lending.act(session, people["farmer"], app.id, Action.withdraw)
    again = home.cards(session, people["proxy"])[0]
    assert again.applications == 0  # withdrawn: no longer in progress


@pytest.mark.parametrize(("name", "grade", "applications", "objections"), [
    ("proxy_query", "A1", None, 0),      # query covers the grade and the objections
    ("proxy_apply", None, 0, None),      # apply covers the applications only
    ("proxy_consent", None, None, None),
])
def test_each_scope_shows_what_it_covers(session: Session, people: Personas, name: str,
                                         grade: str | None, applications: int | None,
                                         objections: int | None) -> None:
    [card] = home.cards(session, people[name])
    assert card.in_force
    assert (card.grade, card.applications, card.objections) == (grade, applications, objections)
    assert card.grade_covered == (name == "proxy_query")


def test_mandates_not_in_force_show_no_figures(session: Session, people: Personas) -> None:
    for name in ("proxy_expired", "proxy_revoked", "proxy_unconfirmed"):
        [card] = home.cards(session, people[name])
        assert card.row.state is not State.in_force
        assert (card.grade, card.applications, card.objections) == (None, None, None)
        assert home.households(session, people[name]) == []
    assert [h for h, _n in home.households(session, people["proxy"])] == [people.home]


def test_the_home_is_the_proxies_only(session: Session, people: Personas) -> None:
    outcome = {n: attempt(session, lambda n=n: home.cards(session, people[n])) for n in ALL}
    assert outcome == {n: "ok" if people[n].role == Role.credit_proxy else "403" for n in ALL}


# -- every act texted --------------------------------------------------------------------------------
def test_each_act_of_a_proxy_is_texted_to_the_household(session: Session, people: Personas,
                                                        tmp_path: Path) -> None:
    proxy, name = people["proxy"], people["proxy"].display_name
    app, _d = lending.apply(session, proxy, subject_id=people.home, product_code="rcb_credit",
                            req=REQ)
    lending.act(session, proxy, app.id, Action.withdraw)
    consent = privacy.grant_consent(session, proxy, subject_id=people.home, bank_code=BANK,
                                    purpose="credit_line")
    session.flush()
    privacy.revoke_consent(session, proxy, consent.id)
    privacy.raise_objection(session, proxy, subject_id=people.home, indicator_code=None,
                            reason="记录有误")
    feedback.submit(session, proxy, subject_id=people.home, channel="page", text="反馈",
                    cipher=FieldCipher.load(tmp_path / "k.json"))
    session.flush()
    assert _proxy_sms(session, people) == [
        ("loan_application", name), ("loan_application", name), ("consent", name),
        ("consent", name), ("objection", name), ("feedback", name)]
    acts = session.scalars(sa.select(Notification.params).where(
        Notification.msgid == marks.TELL)).all()
    assert [p["act"] for p in acts] == [
        "贷款申请（提交申请）", "贷款申请（撤回）", f"授权银行 {BANK} 查询信用报告",
        f"撤回对 {BANK} 的授权", "对信用档案提出异议", f"提交意见反馈（编号 {acts[-1]['act'][-13:-1]}）"]


def test_the_household_own_acts_and_looks_are_not_texted(session: Session,
                                                         people: Personas) -> None:
    farmer = people["farmer"]
    app, _d = lending.apply(session, farmer, subject_id=None, product_code="rcb_credit", req=REQ)
    lending.act(session, farmer, app.id, Action.withdraw)
    privacy.grant_consent(session, farmer, subject_id=people.home, bank_code=BANK,
                          purpose="credit_line")
    credit_file(session, people["proxy"], people.home)  # a look: listed, not texted
    lending.act(session, people["village"], lending.apply(
        session, people["proxy"], subject_id=people.home, product_code="rcb_credit",
        req=REQ)[0].id, Action.village_approve)
    session.flush()
    # Only the proxy's filing: not the household's own acts, the look, or the officer's step.
    assert _proxy_sms(session, people) == [("loan_application", people["proxy"].display_name)]


def test_an_application_names_the_proxy_who_filed_it(session: Session, people: Personas) -> None:
    by_proxy, _d = lending.apply(session, people["proxy"], subject_id=people.home,
                                 product_code="rcb_credit", req=REQ)
    own, _d = lending.apply(session, people["farmer"], subject_id=None, product_code="rcb_credit",
                            req=REQ)
    assert lending.proxy_of(session, by_proxy) == people["proxy"].display_name
    assert lending.proxy_of(session, own) is None


def test_the_mark(people: Personas) -> None:
    assert marks.by_proxy("李四") == "由代理员 李四 代办"
    assert marks.by_proxy("李四", "en") == "by proxy 李四"
