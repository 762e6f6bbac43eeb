"""Looks at a household's data that reach the farmer's query log (issue #10 §2, 条例 art. 22), and
what a bank sees of a village it may offer credit in (整村授信), on both databases.

Found by a walk through the demo: a bank read every household of any village through the grant
preview (names, the punishment list) without a log entry; the register, an application and a
loan opened by someone else never reached the farmer's log; the log showed raw institution codes;
``/lending/apply`` opened for roles that cannot apply; lending pages showed raw status codes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import COUNTY, VILLAGE_A, build_county
from tests.personas import Personas, build_personas
from tests.webutil import make_app_client

from ctown.accounts.models import AccessLog, User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user, issue_token
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory, utcnow
from ctown.errors import NotFound
from ctown.lending import grants, loans, notices, sample, service
from ctown.lending.approval import Action
from ctown.lending.decision import Request
from ctown.masking import mask_name
from ctown.privacy import service as privacy
from ctown.privacy.models import CreditQuery
from ctown.registry import queries
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord

REQ = Request(Decimal("20000"), 12, "equal_instalment")


def _punish(session: Session, subject_id: int) -> None:
    """Put a household on the joint punishment list (失信被执行人, I0703)."""
    from ctown.ingest.service import record_values

    record_values(session, actor=None, department="court", source="test",
                  values=[(subject_id, "I0703", True, dt.date(2026, 1, 5))])


def _looks(session: Session, purpose: str, subject_id: int | None = None
           ) -> list[tuple[int | None, str, str]]:
    stmt = sa.select(CreditQuery.actor_id, CreditQuery.institution, CreditQuery.outcome).where(
        CreditQuery.purpose == purpose)
    if subject_id is not None:
        stmt = stmt.where(CreditQuery.subject_id == subject_id)
    return [tuple(r) for r in session.execute(stmt.order_by(CreditQuery.id))]  # type: ignore[misc]  # Row → tuple


def _denials(session: Session, actor: User) -> list[str]:
    return list(session.scalars(sa.select(AccessLog.detail).where(
        AccessLog.user_id == actor.id, AccessLog.event == "denied").order_by(AccessLog.id)))


# -- 1. the whole-village grant preview ---------------------------------------------------------
@pytest.fixture
def county(session: Session) -> sample.County:
    return sample.build(session)


class TestGrantPreview:
    def test_a_bank_previews_its_own_products_only(self, session: Session,
                                                   county: sample.County) -> None:
        other = county.users["bank_other"]  # bank XYZ; every product file is bank RCB's
        with pytest.raises(NotFound):
            grants.preview(session, other, sample.VILLAGE, "rcb_credit")
        assert _denials(session, other) == [f"village {sample.VILLAGE}: preview rcb_credit"]
        assert _looks(session, "village_grant") == []
        # The product's own bank and the officers of the place still preview it.
        for who in ("bank", "village", "township", "admin"):
            assert grants.preview(session, county.users[who], sample.VILLAGE,
                                  "rcb_credit").summary()["households"] == 12

    def test_a_bank_sees_the_offer_not_the_people(self, session: Session,
                                                  county: sample.County) -> None:
        punished = county.households[sample.VILLAGE][0]
        _punish(session, punished)
        names = dict(session.execute(sa.select(Subject.id, Subject.name).where(
            Subject.region_code == sample.VILLAGE, Subject.kind == "household")).all())
        bank = grants.preview(session, county.users["bank"], sample.VILLAGE, "rcb_credit")
        rows = {r["subject_id"]: r for r in bank.rows.iter_rows(named=True)}
        assert set(bank.rows.columns) == {"subject_id", "household_no", "name", "grade",
                                          "eligible", "reason", "limit", "rate"}
        assert {sid: r["name"] for sid, r in rows.items()} == {
            sid: mask_name(n) for sid, n in names.items()}
        assert rows[punished]["reason"] == "not_eligible" and not rows[punished]["eligible"]
        assert {r["reason"] for r in rows.values()} == {"ok", "not_eligible"}
        assert grants.REASONS["not_eligible"] == "不符合准入条件"
        # The aggregates stay: they reveal no one.
        assert bank.summary()["by_reason"] == {"grade": 3, "ok": 8, "punished": 1}
        # Officers of the village, the township and the county keep the whole picture.
        for who in ("village", "township", "admin"):
            full = grants.preview(session, county.users[who], sample.VILLAGE, "rcb_credit")
            row = full.rows.filter(full.rows["subject_id"] == punished).row(0, named=True)
            assert (row["reason"], row["name"]) == ("punished", names[punished])
            assert full.summary() == bank.summary()

    def test_every_household_listed_to_a_bank_is_logged(self, session: Session,
                                                       county: sample.County) -> None:
        bank = county.users["bank"]
        grants.preview(session, bank, sample.VILLAGE, "rcb_credit")
        logged = session.execute(sa.select(CreditQuery.subject_id, CreditQuery.actor_id,
                                           CreditQuery.actor_name, CreditQuery.institution,
                                           CreditQuery.outcome, CreditQuery.at)
                                 .where(CreditQuery.purpose == "village_grant")).all()
        assert sorted(r.subject_id for r in logged) == sorted(county.households[sample.VILLAGE])
        assert {(r.actor_id, r.actor_name, r.institution, r.outcome) for r in logged} == {
            (bank.id, "t_bank", "RCB", "allowed")}
        assert all(r.at is not None for r in logged)
        # The farmer sees that the bank looked.
        farmer_log = privacy.queries_for(session, county.users["farmer"])
        assert [(q.purpose, q.institution) for q in farmer_log] == [("village_grant", "RCB")]

    def test_the_log_is_one_insert_for_the_village(self, session: Session,
                                                  county: sample.County) -> None:
        """As many statements for a village of 40 households as for one of 12 (bulk insert)."""
        bigger = sample.add_households(session, sample.VILLAGE3, 40, grades=["A1"])

        def statements(village: str) -> int:
            seen: list[str] = []

            def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                seen.append(statement)

            engine = session.get_bind()
            sa.event.listen(engine, "before_cursor_execute", count)
            try:
                grants.preview(session, county.users["bank"], village, "rcb_credit")
                session.flush()
            finally:
                sa.event.remove(engine, "before_cursor_execute", count)
            return len(seen)

        assert statements(sample.VILLAGE) == statements(sample.VILLAGE3)
        assert len(_looks(session, "village_grant")) == 12 + len(bigger)


# -- 2. looks at the register, an application, a loan ----------------------------------------------
@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    people["bank"].bank_code = "RCB"  # the bank of the product files
    # The farmer's household qualifies for a loan: A1, a head young enough for the products.
    session.execute(sa.update(Subject).where(Subject.household_id == people.home)
                    .values(birth_date=dt.date(1980, 5, 1)))
    session.add(GradeRecord(subject_id=people.home, score=700, grade="A1", pd=0.01, reasons=[],
                            model_version="test", scored_at=utcnow(), is_current=True))
    session.flush()
    return people


#: The household's own looks are not "queries"; its proxy's are (the farmer reads every act of
#: every proxy: ctown.proxy).
OWN_SIDE = ("farmer",)


class TestLooks:
    def test_the_register_entry(self, session: Session, people: Personas,
                                tmp_path: Path) -> None:
        cipher = FieldCipher.load(tmp_path / "k.json")
        for name in ("admin", "township", "village", "group", "evaluator", "privacy", "proxy",
                     *OWN_SIDE):
            queries.subject_detail(session, people[name], cipher, people.home)
        expected = [people[n].id for n in ("admin", "township", "village", "group", "evaluator",
                                           "privacy", "proxy")]
        assert [a for a, _i, _o in _looks(session, "register", people.home)] == expected
        # Not seen, not logged as a look (the denial is logged instead).
        with pytest.raises(NotFound):
            queries.subject_detail(session, people["village2"], cipher, people.home)
        assert len(_looks(session, "register")) == len(expected)

    def test_an_application_and_a_loan(self, session: Session, people: Personas) -> None:
        app, _d = service.apply(session, people["farmer"], subject_id=None,
                                product_code="rcb_insured", req=REQ)
        for who, action in (("village", Action.village_approve),
                            ("township", Action.township_approve), ("bank", Action.bank_approve)):
            service.act(session, people[who], app.id, action)
        # Acting is not a look; opening the application is.
        assert _looks(session, "application") == []
        for name in ("bank", "village", "township", "admin", "evaluator", "proxy", *OWN_SIDE):
            assert service.open_application(session, people[name], app.id) is app
        assert [a for a, _i, _o in _looks(session, "application", people.home)] == [
            people[n].id for n in ("bank", "village", "township", "admin", "evaluator", "proxy")]
        loan = loans.disburse(session, people["bank"], app.id, on=dt.date(2026, 1, 5))
        for name in ("bank", "insurer", "village", "proxy", *OWN_SIDE):
            assert loans.open_loan(session, people[name], loan.id) is loan
        assert _looks(session, "loan", people.home) == [
            (people["bank"].id, "RCB", "allowed"), (people["insurer"].id, "PICC01", "allowed"),
            (people["village"].id, VILLAGE_A, "allowed"),
            (people["proxy"].id, VILLAGE_A, "allowed")]
        # The detail reads used by actions log nothing.
        loans.get_loan_for(session, people["bank"], loan.id)
        service.get_application_for(session, people["bank"], app.id)
        assert len(_looks(session, "loan")) == 4 and len(_looks(session, "application")) == 6


# -- 3. the farmer's log in words -----------------------------------------------------------------------
def test_the_query_log_names_institutions(session: Session, people: Personas,
                                          tmp_path: Path) -> None:
    cipher = FieldCipher.load(tmp_path / "k.json")
    queries.subject_detail(session, people["admin"], cipher, people.home)
    queries.subject_detail(session, people["village"], cipher, people.home)
    people["other_bank"].bank_code = "XYZ"  # a bank no product file names
    for bank in ("bank", "other_bank"):
        privacy.request_access(session, people[bank], people.home, "loan_application")
    log = {q.actor_id: q for q in privacy.queries_for(session, people["farmer"])}
    admin, village = log[people["admin"].id], log[people["village"].id]
    assert (admin.institution, admin.institution_name, admin.role) == (
        COUNTY, "德清县", Role.county_admin)
    assert (village.institution, village.institution_name, village.role) == (
        VILLAGE_A, "五四村", Role.village_officer)
    bank, other = log[people["bank"].id], log[people["other_bank"].id]
    assert (bank.institution, bank.institution_name, bank.role) == ("RCB", "县农村商业银行", None)
    assert (other.institution, other.institution_name, other.role) == ("XYZ", "XYZ", None)
    # What is stored (and on the ledger) is the code, as before.
    assert set(session.scalars(sa.select(CreditQuery.institution))) == {
        COUNTY, VILLAGE_A, "RCB", "XYZ"}


# -- over HTTP: the preview, the looks, the log page, the apply form, the labels -----------------------
@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, Any]]]:  # type: ignore[no-untyped-def]  # pytest's own fixtures
    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        county = sample.build(s)
        users = dict(county.users)
        for role in (Role.merchant, Role.evaluator, Role.department_feed):
            users[role.value] = create_user(s, username=f"t_{role.value}", role=role,
                                            region_code=sample.COUNTY, password=None)
        _punish(s, county.households[sample.VILLAGE][0])
        info = {"tokens": {k: issue_token(s, u, "test") for k, u in users.items()},
                "ids": {k: u.id for k, u in users.items()}, "households": county.households}
    engine.dispose()
    with make_app_client(url, tmp_path_factory.mktemp("var")) as client:
        yield client, info
        notices.wait_sent(client.app.state.engine)  # type: ignore[attr-defined]


def _h(info: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {info['tokens'][who]}"}


def _logged(client: TestClient, purpose: str, actor_id: int) -> int:
    with session_factory(client.app.state.engine)() as s:  # type: ignore[attr-defined]
        return s.scalar(sa.select(sa.func.count()).select_from(CreditQuery).where(
            CreditQuery.purpose == purpose, CreditQuery.actor_id == actor_id)) or 0


def test_the_grant_preview_over_http(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    api = f"/api/v1/lending/villages/{sample.VILLAGE}/grant-preview"
    page = f"/lending/villages/{sample.VILLAGE}/grant"
    body = client.get(api, headers=_h(info, "bank")).json()
    assert {r["reason"] for r in body["rows"]} == {"ok", "not_eligible"}
    assert all("*" in r["name"] for r in body["rows"])
    assert body["summary"]["by_reason"]["punished"] == 1
    html = client.get(page, headers=_h(info, "bank")).text
    assert "列入失信联合惩戒名单" not in html and "不符合准入条件" in html
    assert _logged(client, "village_grant", info["ids"]["bank"]) == 24  # two looks of 12
    # The officer of the village keeps every reason; another bank hears "not found".
    html = client.get(page, headers=_h(info, "village")).text
    assert "列入失信联合惩戒名单" in html
    for path in (api, page):
        assert client.get(path, headers=_h(info, "bank_other")).status_code == 404
    assert _logged(client, "village_grant", info["ids"]["bank_other"]) == 0


def test_looks_over_http(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    home = info["households"][sample.VILLAGE][1]  # the proxy's household
    for path in (f"/api/v1/subjects/{home}", f"/households/{home}"):
        assert client.get(path, headers=_h(info, "admin")).status_code == 200
        assert client.get(path, headers=_h(info, "proxy")).status_code == 200
    assert _logged(client, "register", info["ids"]["admin"]) == 2  # one look per request
    assert _logged(client, "register", info["ids"]["proxy"]) == 2  # the proxy's looks are logged
    filed = client.post("/api/v1/lending/decisions", headers=_h(info, "proxy"), json={
        "subject_id": home, "product_code": "rcb_credit", "amount": "20000",
        "term_months": 12, "method": "equal_instalment"}).json()
    app_id = filed["application_id"]
    for path in (f"/api/v1/lending/applications/{app_id}", f"/lending/applications/{app_id}"):
        assert client.get(path, headers=_h(info, "bank")).status_code == 200
    assert _logged(client, "application", info["ids"]["bank"]) == 2
    page = client.get(f"/lending/applications/{app_id}", headers=_h(info, "proxy")).text
    # The channel in words, with the proxy's name, never its code.
    assert "credit_proxy" not in page and "由代理员 t_proxy 代办" in page
    for who, action in (("village", "village_approve"), ("township", "township_approve"),
                        ("bank", "bank_approve")):
        client.post(f"/api/v1/lending/applications/{app_id}/actions", json={"action": action},
                    headers=_h(info, who))
    loan_id = client.post(f"/api/v1/lending/applications/{app_id}/disburse",
                          headers=_h(info, "bank")).json()["id"]
    for path in (f"/api/v1/lending/loans/{loan_id}", f"/lending/loans/{loan_id}"):
        assert client.get(path, headers=_h(info, "township")).status_code == 200
    assert _logged(client, "loan", info["ids"]["township"]) == 2
    page = client.get(f"/lending/loans/{loan_id}", headers=_h(info, "proxy")).text
    assert ">active<" not in page and "还款中" in page
    # The farmer's page says who looked, in words.
    me = client.get(f"/privacy/me?subject={home}", headers=_h(info, "proxy")).text
    for words in ("县农村商业银行", "整村授信评估", "查阅户籍信息", "查阅贷款申请", "查阅贷款",
                  "测试县", "县信用服务中心管理员"):
        assert words in me, words
    en = client.get(f"/privacy/me?subject={home}&lang=en", headers=_h(info, "proxy")).text
    for words in ("Whole-village credit assessment", "Read the household record",
                  "Read the loan application", "Read the loan"):
        assert words in en, words


def test_the_apply_form_is_for_those_who_apply(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    for who in ("merchant", "insurer", "evaluator", "department_feed", "bank", "admin"):
        assert client.get("/lending/apply", headers=_h(info, who)).status_code == 403, who
    for who in ("farmer", "proxy", "village"):
        assert client.get("/lending/apply", headers=_h(info, who)).status_code == 200, who
