"""Persona tests of lending's resources — applications, loans, whole-village grants and the lending
figures — as every persona of :mod:`tests.personas`, on both databases.

The farmer's household (``home``, village A) has an application filed by the farmer; the bank
persona is the bank of the products (``RCB``), ``other_bank`` another one. A persona that may not
reach a row gets "not found" and the denial is logged; a role that never does a thing gets 403.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_C, build_county
from tests.personas import ALL, Personas, build_personas

from ctown.access import policy
from ctown.accounts.models import AccessLog, ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import Forbidden, NotFound
from ctown.lending import figures, grants, loans, service
from ctown.lending.approval import Action, State
from ctown.lending.decision import Request
from ctown.lending.models import Loan, LoanApplication
from ctown.privacy.models import Consent
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord

PRODUCT_BANK = "RCB"  # the bank of the product files
REQ = Request(Decimal("30000"), 12, "equal_instalment")


@dataclass
class World:
    people: Personas
    app: LoanApplication   # the farmer's application (home), waiting for the village
    far: LoanApplication   # an application of village C (the other township)

    def __getitem__(self, name: str) -> User:
        return self.people[name]


def _eligible(session: Session, household: int) -> None:
    """A1, and a household head young enough for the products."""
    session.execute(sa.update(Subject).where(Subject.household_id == household)
                    .values(birth_date=dt.date(1980, 5, 1)))
    session.add(GradeRecord(subject_id=household, score=700, grade="A1", pd=0.01, reasons=[],
                            model_version="test", scored_at=utcnow(), is_current=True))


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    people["bank"].bank_code = PRODUCT_BANK
    session.execute(sa.update(Consent).where(Consent.subject_id == people.home)
                    .values(bank_code=PRODUCT_BANK))
    for household in (people.home, people.neighbour, people.far):
        _eligible(session, household)
    session.flush()
    officer_c = create_user(session, username="village_c", role=Role.village_officer,
                            region_code=VILLAGE_C, password=None)
    app, _d = service.apply(session, people["farmer"], subject_id=None,
                            product_code="rcb_insured", req=REQ)
    far, _d = service.apply(session, officer_c, subject_id=people.far,
                            product_code="rcb_credit", req=REQ)
    assert app.state == far.state == State.submitted
    return World(people, app, far)


def _denials(session: Session, actor: User) -> list[str]:
    return list(session.scalars(sa.select(AccessLog.detail).where(
        AccessLog.user_id == actor.id, AccessLog.event == "denied").order_by(AccessLog.id)))


def _walk(session: Session, w: World, until: State = State.approved) -> None:
    steps = [("village", Action.village_approve), ("township", Action.township_approve),
             ("bank", Action.bank_approve)]
    for who, action in steps:
        if w.app.state == until:
            return
        service.act(session, w[who], w.app.id, action)


def _loan(session: Session, w: World) -> Loan:
    _walk(session, w)
    return loans.disburse(session, w["bank"], w.app.id, on=dt.date(2026, 1, 5))


# -- applications --------------------------------------------------------------------------------
#: Who reaches the farmer's application: the officers of the place, oversight, the household and
#: its proxy (mandate in force), the product's bank.
SEES_APP = {"admin", "township", "village", "evaluator", "privacy", "farmer", "proxy", "bank"}
#: Who files for the farmer's household: the household, its proxy, the village officer.
FILES = {"farmer", "proxy", "village"}
#: Roles that never file (403); the others see nothing of the household (404).
NEVER_FILE = {"admin", "township", "township2", "group", "bank", "other_bank", "insurer",
              "merchant", "feed", "evaluator", "privacy"}


class TestApplications:
    @pytest.mark.parametrize("name", ALL)
    def test_list(self, session: Session, world: World, name: str) -> None:
        listed = {a.id for a in service.list_applications(session, world[name])}
        assert (world.app.id in listed) == (name in SEES_APP)
        assert (world.far.id in listed) == (name in {"admin", "township2", "evaluator",
                                                     "privacy", "bank"})

    @pytest.mark.parametrize("name", ALL)
    def test_get(self, session: Session, world: World, name: str) -> None:
        actor = world[name]
        if name in SEES_APP:
            assert service.get_application_for(session, actor, world.app.id) is world.app
            return
        with pytest.raises(NotFound):
            service.get_application_for(session, actor, world.app.id)
        assert _denials(session, actor) == [f"loan application {world.app.id}: view"]

    @pytest.mark.parametrize("name", ALL)
    def test_file(self, session: Session, world: World, name: str) -> None:
        actor = world[name]
        if name in FILES:
            app, _d = service.apply(session, actor, subject_id=world.people.home,
                                    product_code="rcb_credit", req=REQ)
            assert app.channel == str(Role(actor.role)) and app.submitted_by == actor.id
            return
        with pytest.raises(Forbidden if name in NEVER_FILE else NotFound):
            service.apply(session, actor, subject_id=world.people.home,
                          product_code="rcb_credit", req=REQ)

    @pytest.mark.parametrize("name", ALL)
    def test_withdraw(self, session: Session, world: World, name: str) -> None:
        """The applicant's side only; whoever does not see the application gets 404."""
        actor = world[name]
        if name in FILES:
            assert service.act(session, actor, world.app.id, Action.withdraw).state == \
                State.withdrawn
            return
        with pytest.raises(Forbidden if name in SEES_APP else NotFound):
            service.act(session, actor, world.app.id, Action.withdraw)
        assert world.app.state == State.submitted

    @pytest.mark.parametrize(("state", "action", "reviewer"), [
        (State.submitted, Action.village_approve, "village"),
        (State.village_approved, Action.township_approve, "township"),
        (State.township_approved, Action.bank_approve, "bank"),
    ])
    @pytest.mark.parametrize("name", ALL)
    def test_each_step(self, session: Session, world: World, name: str, state: State,
                       action: Action, reviewer: str) -> None:
        _walk(session, world, until=state)
        assert world.app.state == state
        queued = {a.id for a in service.review_queue(session, world[name])}
        assert (world.app.id in queued) == (name == reviewer)
        offered = service.actions_for(session, world[name], world.app) \
            if name in SEES_APP else []
        assert (action in offered) == (name == reviewer)
        if name == reviewer:
            assert service.act(session, world[name], world.app.id, action).state != state
            return
        with pytest.raises(Forbidden if name in SEES_APP else NotFound):
            service.act(session, world[name], world.app.id, action)
        assert world.app.state == state

    @pytest.mark.parametrize("name", ALL)
    def test_disburse(self, session: Session, world: World, name: str) -> None:
        _walk(session, world)
        actor = world[name]
        if name == "bank":
            assert loans.disburse(session, actor, world.app.id).principal == REQ.amount
            return
        # Only banks pay out (403 for everyone else); another bank does not see the application.
        with pytest.raises(NotFound if name == "other_bank" else Forbidden):
            loans.disburse(session, actor, world.app.id)
        assert world.app.state == State.approved


# -- loans -----------------------------------------------------------------------------------------
#: Who reaches the farmer's (insured) loan: officers of the place, the household and its proxy,
#: the lending bank, the insurer that covers it. Not the oversight roles (figures only).
SEES_LOAN = {"admin", "township", "village", "farmer", "proxy", "bank", "insurer"}


class TestLoans:
    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        loan = _loan(session, world)
        actor = world[name]
        assert (loan.id in {x.id for x in loans.list_loans(session, actor)}) == (name in SEES_LOAN)
        if name in SEES_LOAN:
            assert loans.get_loan_for(session, actor, loan.id) is loan
            return
        with pytest.raises(NotFound):
            loans.get_loan_for(session, actor, loan.id)
        assert _denials(session, actor) == [f"loan {loan.id}: view"]

    @pytest.mark.parametrize("name", ALL)
    def test_repay(self, session: Session, world: World, name: str) -> None:
        loan = _loan(session, world)
        first = loan.instalments[0]
        due = first.principal + first.interest
        actor = world[name]
        if name == "bank":
            assert loans.actions_for(session, actor, loan) == {"repay"}
            loans.repay(session, actor, loan.id, due, paid_on=first.due_on)
            assert first.paid == due
            return
        if name in SEES_LOAN:
            assert "repay" not in loans.actions_for(session, actor, loan)
        # Another bank: not found, logged; a role that never records repayments: 403.
        with pytest.raises(NotFound if name == "other_bank" else Forbidden):
            loans.repay(session, actor, loan.id, due)
        if name == "other_bank":
            assert _denials(session, actor) == [f"loan {loan.id}: repay"]
        assert first.paid == 0

    @pytest.mark.parametrize("name", ALL)
    def test_compensate(self, session: Session, world: World, name: str) -> None:
        loan = _loan(session, world)
        loans.assess(session, None, loan, dt.date(2026, 5, 1))  # overdue: the insurer may pay
        actor = world[name]
        if name == "insurer":
            assert loans.actions_for(session, actor, loan) == {"compensate"}
            assert loans.compensate(session, actor, loan.id, "洪灾", on=dt.date(2026, 5, 2)
                                    ).status == "compensated"
            return
        if name in SEES_LOAN:
            assert "compensate" not in loans.actions_for(session, actor, loan)
        with pytest.raises(Forbidden):
            loans.compensate(session, actor, loan.id, "洪灾")
        assert loan.status == "active"


# -- whole-village grants -----------------------------------------------------------------------------
#: Who previews village A with the RCB product: its officers, and the product's own bank (a bank
#: may offer anywhere, its own products only).
PREVIEWS_A = {"admin", "township", "village", "bank"}
#: Officers of other places: the village does not exist for them.
OTHER_PLACE = {"township2", "village2"}
#: Another bank: the preview of a product not its own does not exist for it (issue #10 QA: it
#: read every household of the village through another bank's product).
OTHER_PRODUCT = {"other_bank"}
#: Who sees a grant made in village A: its officers and the granting bank.
SEES_GRANT = {"admin", "township", "village", "bank"}


class TestGrants:
    @pytest.mark.parametrize("name", ALL)
    def test_preview(self, session: Session, world: World, name: str) -> None:
        actor = world[name]
        if name in PREVIEWS_A:
            view = grants.preview(session, actor, VILLAGE_A, "rcb_credit")
            assert view.summary()["households"] == 3 and view.summary()["eligible"] == 2
            return
        with pytest.raises(NotFound if name in OTHER_PLACE | OTHER_PRODUCT else Forbidden):
            grants.preview(session, actor, VILLAGE_A, "rcb_credit")
        if name in OTHER_PLACE:
            assert _denials(session, actor) == [f"village {VILLAGE_A}: preview"]
        if name in OTHER_PRODUCT:
            assert _denials(session, actor) == [f"village {VILLAGE_A}: preview rcb_credit"]

    @pytest.mark.parametrize("name", ALL)
    def test_grant(self, session: Session, world: World, name: str) -> None:
        actor = world[name]
        if name == "bank":
            assert grants.grant(session, actor, VILLAGE_A, "rcb_credit").granted == 2
            return
        # Only the product's own bank grants it; every other persona is refused outright.
        with pytest.raises(Forbidden):
            grants.grant(session, actor, VILLAGE_A, "rcb_credit")

    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        batch = grants.grant(session, world["bank"], VILLAGE_A, "rcb_credit")
        actor = world[name]
        listed = [g.id for g in grants.grants_of_village(session, actor, VILLAGE_A)]
        assert listed == ([batch.id] if name in SEES_GRANT else [])
        if name in SEES_GRANT:
            assert grants.get_grant_for(session, actor, batch.id) is batch
            assert len(grants.lines_of(session, batch.id, actor)) == 2
            return
        # Existence does not leak: not found (not 403), and the denial is logged.
        with pytest.raises(NotFound):
            grants.get_grant_for(session, actor, batch.id)
        assert _denials(session, actor) == [f"village grant {batch.id}: view"]
        # Of the lines, a household sees its own (its proxy too), nobody else any.
        mine = {"farmer": world.people.home, "proxy": world.people.home,
                "farmer2": world.people.neighbour}.get(name)
        assert [line.subject_id for line, _n in grants.lines_of(session, batch.id, actor)] == \
            ([mine] if mine else [])


# -- figures ----------------------------------------------------------------------------------------
#: Who reads the lending figures, and how many of the loans (the farmer's, in village A) count.
FIGURES = {"admin": 1, "township": 1, "township2": 0, "village": 1, "village2": 0, "bank": 1,
           "other_bank": 0, "evaluator": 1, "privacy": 1}


class TestFigures:
    @pytest.mark.parametrize("name", ALL)
    def test_view(self, session: Session, world: World, name: str) -> None:
        _loan(session, world)
        actor = world[name]
        if name in FIGURES:
            fig = figures.figures(session, actor)
            assert fig["county"]["loans"] == FIGURES[name]
            assert fig["county"]["approvals"] == FIGURES[name]
            return
        with pytest.raises(Forbidden):
            figures.figures(session, actor)

    def test_one_definition_of_who_counts(self, world: World) -> None:
        rows = (policy.POLICY["lending_figures"]["view"], policy.POLICY["loan"]["figures"],
                policy.POLICY["application"]["figures"])
        assert rows[0] == rows[1] == rows[2]
        readers = policy.roles_with("lending_figures", "view")
        assert set(FIGURES) == {n for n in ALL if Role(world[n].role) in readers}


# -- the bugs of issue #10 ------------------------------------------------------------------------------
def test_a_mandate_that_expires_or_is_revoked_stops_the_proxy(session: Session,
                                                               world: World) -> None:
    """Filed while the mandate was in force; after it ends the proxy neither sees nor acts."""
    proxy = world["proxy"]
    filed, _d = service.apply(session, proxy, subject_id=world.people.home,
                              product_code="rcb_credit", req=REQ)
    mandate = session.scalar(sa.select(ProxyMandate).where(ProxyMandate.proxy_id == proxy.id))
    assert mandate is not None
    for end in ("expired", "revoked"):
        if end == "expired":
            mandate.valid_until = utcnow() - dt.timedelta(minutes=1)
        else:
            mandate.valid_until, mandate.revoked_at = utcnow() + dt.timedelta(days=9), utcnow()
        session.flush()
        assert service.list_applications(session, proxy) == []
        assert loans.list_loans(session, proxy) == []
        for action in (Action.withdraw, Action.resubmit):
            with pytest.raises(NotFound):
                service.act(session, proxy, filed.id, action)
        with pytest.raises(NotFound):
            service.apply(session, proxy, subject_id=world.people.home,
                          product_code="rcb_credit", req=REQ)
        assert not service.acts_for(session, proxy, world.people.home)
    assert filed.state == State.submitted
    assert f"loan application {filed.id}: view" in _denials(session, proxy)
    # The expired and revoked personas never could.
    for name in ("proxy_expired", "proxy_revoked"):
        assert service.list_applications(session, world[name]) == []


def test_a_grant_of_another_village_is_not_found_and_logged(session: Session,
                                                            world: World) -> None:
    batch = grants.grant(session, world["bank"], VILLAGE_A, "rcb_credit")
    for name in ("village2", "township2"):
        with pytest.raises(NotFound):
            grants.preview(session, world[name], VILLAGE_A, "rcb_credit")
        with pytest.raises(NotFound):
            grants.get_grant_for(session, world[name], batch.id)
        assert _denials(session, world[name]) == [f"village {VILLAGE_A}: preview",
                                                  f"village grant {batch.id}: view"]
    # A farmer asking for a grant that exists hears the same as for one that does not.
    with pytest.raises(NotFound):
        grants.get_grant_for(session, world["farmer"], batch.id)
    with pytest.raises(NotFound):
        grants.get_grant_for(session, world["farmer"], batch.id + 1000)
    assert _denials(session, world["farmer"]) == [f"village grant {batch.id}: view"]


def test_a_loan_of_another_bank_is_not_found_and_logged(session: Session, world: World) -> None:
    loan = _loan(session, world)
    other = world["other_bank"]
    with pytest.raises(NotFound):
        loans.get_loan_for(session, other, loan.id)
    with pytest.raises(NotFound):
        loans.repay(session, other, loan.id, Decimal("10"))
    with pytest.raises(NotFound):
        service.get_application_for(session, other, world.app.id)
    assert _denials(session, other) == [f"loan {loan.id}: view", f"loan {loan.id}: repay",
                                        f"loan application {world.app.id}: view"]


# -- the same over HTTP (pages and API answer 404, the denial logged) ---------------------------------
@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory):  # type: ignore[no-untyped-def]  # pytest's own fixtures
    from tests.webutil import make_app_client

    from ctown.accounts.service import issue_token
    from ctown.db import make_engine, session_factory
    from ctown.lending import notices, sample

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        county = sample.build(s)
        tokens = {k: issue_token(s, u, "test") for k, u in county.users.items()}
        ids = {k: u.id for k, u in county.users.items()}
    engine.dispose()
    with make_app_client(url, tmp_path_factory.mktemp("var")) as client:
        yield client, tokens, ids, county.households
        notices.wait_sent(client.app.state.engine)


def test_over_http(site) -> None:  # type: ignore[no-untyped-def]
    from ctown.db import session_factory
    from ctown.lending import sample

    client, tokens, ids, households = site

    def h(who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[who]}"}

    def denied(who: str) -> list[str]:
        with session_factory(client.app.state.engine)() as s:
            return list(s.scalars(sa.select(AccessLog.detail).where(
                AccessLog.user_id == ids[who], AccessLog.event == "denied")))

    body = {"subject_id": households[sample.VILLAGE][1], "product_code": "rcb_credit",
            "amount": "20000", "term_months": 12, "method": "equal_instalment"}
    filed = client.post("/api/v1/lending/decisions", json=body, headers=h("proxy"))
    assert filed.status_code == 200, filed.text
    app_id = filed.json()["application_id"]
    # Whole-village grant: another village's officer and a farmer hear "not found".
    granted = client.post(f"/api/v1/lending/villages/{sample.VILLAGE}/grants",
                          json={"product_code": "rcb_credit"}, headers=h("bank"))
    assert granted.status_code == 200, granted.text
    grant_id = granted.json()["id"]
    assert client.get(f"/lending/grants/{grant_id}/print", headers=h("village2")).status_code \
        == 404
    assert client.get(f"/lending/grants/{grant_id}/print", headers=h("farmer")).status_code \
        == 404
    assert client.get(f"/api/v1/lending/villages/{sample.VILLAGE}/grant-preview",
                      headers=h("village2")).status_code == 404
    assert client.post(f"/api/v1/lending/villages/{sample.VILLAGE}/grants",
                       json={"product_code": "rcb_credit"}, headers=h("village")).status_code \
        == 403
    assert set(denied("village2")) == {f"village grant {grant_id}: view",
                                       f"village {sample.VILLAGE}: preview"}
    assert denied("farmer") == [f"village grant {grant_id}: view"]
    # A loan of another bank.
    for who, action in (("village", "village_approve"), ("township", "township_approve"),
                        ("bank", "bank_approve")):
        r = client.post(f"/api/v1/lending/applications/{app_id}/actions",
                        json={"action": action}, headers=h(who))
        assert r.status_code == 200, r.text
    loan = client.post(f"/api/v1/lending/applications/{app_id}/disburse", headers=h("bank"))
    assert loan.status_code == 200, loan.text
    loan_id = loan.json()["id"]
    assert client.get(f"/api/v1/lending/loans/{loan_id}", headers=h("bank_other")).status_code \
        == 404
    assert client.post(f"/api/v1/lending/loans/{loan_id}/repayments", json={"amount": "10"},
                       headers=h("bank_other")).status_code == 404
    assert client.post(f"/api/v1/lending/loans/{loan_id}/repayments", json={"amount": "10"},
                       headers=h("township")).status_code == 403
    assert client.get(f"/lending/loans/{loan_id}", headers=h("bank_other")).status_code == 404
    assert denied("bank_other") == [f"loan {loan_id}: view", f"loan {loan_id}: repay",
                                    f"loan {loan_id}: view"]
    # The proxy's mandate runs out: the application and the loan are gone for the proxy.
    with session_factory(client.app.state.engine).begin() as s:
        s.execute(sa.update(ProxyMandate).where(ProxyMandate.proxy_id == ids["proxy"])
                  .values(valid_until=utcnow() - dt.timedelta(seconds=1)))
    assert client.get(f"/api/v1/lending/applications/{app_id}", headers=h("proxy")).status_code \
        == 404
    assert client.get("/api/v1/lending/applications", headers=h("proxy")).json() == []
    assert client.get("/api/v1/lending/loans", headers=h("proxy")).json() == []
    assert client.post("/api/v1/lending/decisions", json=body, headers=h("proxy")).status_code \
        == 404
    assert f"loan application {app_id}: view" in denied("proxy")
