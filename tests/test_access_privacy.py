"""Persona tests of privacy's resources — consents, the query log, objections, complaints, the
audit trail and the ledger's receipts — as every persona of :mod:`tests.personas`, on both
databases. Each action is tried in a savepoint, so one persona's success does not change what
the next one finds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_C, build_county
from tests.personas import ALL, BANK, NOT_HOME, SEES_HOME, Personas, attempt, build_personas, denials, expect

from ctown.access.rules import today
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import Forbidden, NotFound
from ctown.ledger import receipts
from ctown.ledger import service as ledger_service
from ctown.ledger import tasks as ledger_tasks
from ctown.privacy import access, service
from ctown.privacy.models import Consent, CreditQuery, Objection
from ctown.registry.models import ChangeEvent
from ctown.settings import Settings, get_settings

THIRD_BANK = "XYZ003"  # a bank no persona works for


@dataclass
class World:
    people: Personas
    consents: dict[str, int]    # "bank" (the persona bank's), "third" (another bank), "collect"
    objections: dict[str, int]  # "home" (raised by the farmer), "far" (village C)
    complaints: dict[str, int]  # "farmer", "bank": who filed it


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    home, farmer = people.home, people["farmer"]
    bank = session.scalars(sa.select(Consent.id).where(Consent.subject_id == home,
                                                       Consent.bank_code == BANK)).one()
    third = service.grant_consent(session, farmer, subject_id=home, bank_code=THIRD_BANK,
                                  purpose="post_loan")
    collect = service.grant_collection_consent(session, None, subject_id=home,
                                               signed_on=today() - dt.timedelta(days=30))
    objection = service.raise_objection(session, farmer, subject_id=home, indicator_code="I0503",
                                        reason="数额不对")
    far = Objection(subject_id=people.far, raised_by_id=None, reason="面积有误", raised_at=utcnow(),
                    due_at=utcnow() + dt.timedelta(days=20), status="open")
    session.add(far)
    complaints = {who: service.file_complaint(session, people[who], f"{who} 的投诉").id
                  for who in ("farmer", "bank")}
    service.request_access(session, people["bank"], home, "guarantee")  # refused, and logged
    session.flush()
    return World(people, {"bank": bank, "third": third.id, "collect": collect.id},
                 {"home": objection.id, "far": far.id}, complaints)








#: Consents to banks are given for the household by itself, its proxy in force, or the village
#: officer entering a paper form; the others' roles give none at all (403).
GIVERS = {"farmer", "proxy", "village"}
GIVER_ROLES = GIVERS | {"village2", "farmer2", "proxy_expired", "proxy_revoked",
                        "proxy_unconfirmed"}
#: The collection consent also by the township and county offices.
COLLECTORS = GIVERS | {"admin", "township"}
COLLECTOR_ROLES = GIVER_ROLES | {"admin", "township", "township2"}


# -- consents ----------------------------------------------------------------------------------------
#: Who sees the household's consents: its officers and oversight (all three), the household and
#: its proxy, a bank its own only; the evaluation group sees the household, not its consents.
SEES_CONSENTS = {"admin", "township", "village", "evaluator", "privacy", "farmer", "proxy"}


class TestConsents:
    @pytest.mark.parametrize("name", ALL)
    def test_list(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name in NOT_HOME:
            with pytest.raises(NotFound):
                service.consents_for(session, actor, world.people.home)
            assert denials(session, world.people, name) == [f"subject {world.people.home}: view"]
            return
        listed = {c.id for c in service.consents_for(session, actor, world.people.home)}
        expected = set(world.consents.values()) if name in SEES_CONSENTS else \
            {world.consents["bank"]} if name == "bank" else set()
        assert listed == expected

    @pytest.mark.parametrize("name", ALL)
    def test_get(self, session: Session, world: World, name: str) -> None:
        reached = {"bank": SEES_CONSENTS | {"bank"}, "third": SEES_CONSENTS,
                   "collect": SEES_CONSENTS}
        refused = []
        for which, consent_id in world.consents.items():
            if name in reached[which]:
                assert service.get_consent_for(session, world.people[name], consent_id).id \
                    == consent_id
                continue
            with pytest.raises(NotFound):
                service.get_consent_for(session, world.people[name], consent_id)
            refused.append(f"consent {consent_id}: view")
        assert denials(session, world.people, name) == refused

    def test_grant_to_a_bank(self, session: Session, world: World) -> None:
        answers = {name: attempt(session, lambda a=world.people[name]: service.grant_consent(
            session, a, subject_id=world.people.home, bank_code=BANK, purpose="credit_line"))
            for name in ALL}
        assert answers == expect(GIVERS, set(ALL) - GIVER_ROLES)

    def test_grant_collection(self, session: Session, world: World) -> None:
        answers = {name: attempt(session, lambda a=world.people[name]:
                                 service.grant_collection_consent(
                                     session, a, subject_id=world.people.home,
                                     signed_on=today() - dt.timedelta(days=2)))
                   for name in ALL}
        assert answers == expect(COLLECTORS, set(ALL) - COLLECTOR_ROLES)

    def test_revoke(self, session: Session, world: World) -> None:
        """Who may give it may take it back; who sees it but may not is refused (403); who does
        not see it finds nothing (404)."""
        def revoke(which: str) -> dict[str, str]:
            return {name: attempt(session, lambda a=world.people[name]: service.revoke_consent(
                session, a, world.consents[which])) for name in ALL}

        assert revoke("bank") == expect(GIVERS, {"admin", "township", "evaluator", "privacy",
                                                 "bank"})
        assert revoke("collect") == expect(COLLECTORS, {"evaluator", "privacy"})
        assert service.revoke_consent(session, None, world.consents["third"]).revoked_at

    def test_the_county_job_reaches_every_consent(self, session: Session, world: World) -> None:
        assert {c.id for c in service.consents_for(session, None, world.people.home)} == set(
            world.consents.values())


# -- the query log -------------------------------------------------------------------------------------
#: The household, its proxy, its officers and the county's oversight; not the banks (one bank does
#: not learn which others asked), not the evaluation group.
READS_QUERIES = {"admin", "township", "village", "evaluator", "privacy", "farmer", "proxy"}


class TestQueryLog:
    @pytest.mark.parametrize("name", ALL)
    def test_list(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name in NOT_HOME:
            with pytest.raises(NotFound):
                service.queries_for(session, actor, world.people.home)
            return
        log = service.queries_for(session, actor, world.people.home)
        if name in READS_QUERIES:
            assert [(q.institution, q.outcome) for q in log] == [(BANK, "refused")]
        else:
            assert log == []

    def test_the_farmers_own_page(self, session: Session, world: World) -> None:
        page = service.household_page(session, world.people["farmer"])
        assert page.subject_id == world.people.home
        assert {c.id for c in page.consents} == set(world.consents.values())
        assert [o.id for o in page.objections] == [world.objections["home"]]
        assert [c.id for c in page.complaints] == [world.complaints["farmer"]]
        assert len(page.queries) == 1
        assert service.household_page(session, world.people["bank"]).consents == []


# -- objections -------------------------------------------------------------------------------------------
#: Objections each persona lists (by the subject's place; the household and its proxy).
OBJECTIONS = {"admin": {"home", "far"}, "privacy": {"home", "far"}, "township": {"home"},
              "township2": {"far"}, "village": {"home"}, "farmer": {"home"}, "proxy": {"home"}}
#: Roles that answer objections (of the places they reach).
ANSWERERS = {"admin", "township", "township2", "privacy"}


class TestObjections:
    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        listed = {o.id for o in service.objections_for(session, actor)}
        reached = OBJECTIONS.get(name, set())
        assert listed == {world.objections[w] for w in reached}
        refused = []
        for which, objection_id in world.objections.items():
            if which in reached:
                assert service.get_objection_for(session, actor, objection_id).id == objection_id
                continue
            with pytest.raises(NotFound):
                service.get_objection_for(session, actor, objection_id)
            refused.append(f"objection {objection_id}: view")
        assert denials(session, world.people, name) == refused

    def test_raise(self, session: Session, world: World) -> None:
        """The household, its proxy, its officers and the privacy officer may object; banks,
        insurers, merchants, the assessor and the evaluation group may not (403)."""
        answers = {name: attempt(session, lambda a=world.people[name]: service.raise_objection(
            session, a, subject_id=world.people.home, indicator_code=None, reason="有误"))
            for name in ALL}
        objectors = GIVER_ROLES | {"admin", "township", "township2", "privacy"}
        assert answers == expect(GIVERS | {"admin", "township", "privacy"}, set(ALL) - objectors)

    def test_answer(self, session: Session, world: World) -> None:
        answers = {name: attempt(session, lambda a=world.people[name]: service.answer_objection(
            session, a, world.objections["home"], "经核实已更正")) for name in ALL}
        assert answers == expect({"admin", "township", "privacy"}, set(ALL) - ANSWERERS)
        with pytest.raises(NotFound):
            service.answer_objection(session, world.people["township2"],
                                     world.objections["home"], "x")
        assert denials(session, world.people, "township2") == [
            f"objection {world.objections['home']}: answer"]

    @pytest.mark.parametrize("name", ALL)
    def test_the_officers_desk(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name not in ANSWERERS:
            with pytest.raises(Forbidden):
                service.officer_desk(session, actor)
            return
        desk = service.officer_desk(session, actor)
        assert {o.id for o in desk.objections} == {world.objections[w] for w in OBJECTIONS[name]}
        assert {c.id for c in desk.complaints} == (
            set(world.complaints.values()) if name == "privacy" else set())
        assert desk.overdue == set()


# -- complaints ----------------------------------------------------------------------------------------
class TestComplaints:
    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        """The privacy officer sees every complaint; anyone else only their own."""
        actor = world.people[name]
        reached = set(world.complaints) if name == "privacy" else {name} & set(world.complaints)
        assert {c.id for c in service.complaints_for(session, actor)} == {
            world.complaints[w] for w in reached}
        refused = []
        for who, complaint_id in world.complaints.items():
            if who in reached:
                assert service.get_complaint_for(session, actor, complaint_id).id == complaint_id
                continue
            with pytest.raises(NotFound):
                service.get_complaint_for(session, actor, complaint_id)
            refused.append(f"complaint {complaint_id}: view")
        assert denials(session, world.people, name) == refused

    def test_file(self, session: Session, world: World) -> None:
        """Anyone may complain; naming a household is only for those who see it."""
        assert {name: attempt(session, lambda a=world.people[name]: service.file_complaint(
            session, a, "手机号被公示")) for name in ALL} == expect(set(ALL))
        assert {name: attempt(session, lambda a=world.people[name]: service.file_complaint(
            session, a, "手机号被公示", world.people.home)) for name in ALL} == expect(SEES_HOME)

    def test_answer(self, session: Session, world: World) -> None:
        answers = {name: attempt(session, lambda a=world.people[name]: service.answer_complaint(
            session, a, world.complaints["farmer"], "已处理")) for name in ALL}
        assert answers == expect({"privacy"}, set(ALL) - {"privacy"})


# -- the audit trail and the ledger's receipts -----------------------------------------------------------
AUDITORS = {"admin", "evaluator", "privacy"}


class TestAuditTrail:
    @pytest.mark.parametrize("name", ALL)
    def test_list(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name not in AUDITORS:
            with pytest.raises(Forbidden):
                service.audit_events(session, actor)
            return
        actions = {e.action for e in service.audit_events(session, actor)}
        assert {"consent.grant", "objection.raise", "complaint.file", "report.refused"} <= actions
        assert {e.action for e in service.audit_events(session, actor, action="consent.")} == {
            "consent.grant"}

    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return get_settings(var_dir=tmp_path)

    def test_receipts(self, session: Session, world: World, settings: Settings) -> None:
        """Those who audit the whole log get a receipt of any record; others of the records of
        the households they see; any other is "not found"."""
        ledger_tasks.append_all(session, settings)

        def leaf_of(subject_id: int) -> int:
            ref = session.scalars(sa.select(ChangeEvent.id).where(
                ChangeEvent.subject_id == subject_id).order_by(ChangeEvent.id).limit(1)).one()
            return ledger_service.find_leaf(session, "change_event", ref)

        home, far = leaf_of(world.people.home), leaf_of(world.people.far)
        for leaf, sees in ((home, SEES_HOME), (far, AUDITORS | {"township2"})):
            answers = {name: attempt(session, lambda a=world.people[name], n=leaf:
                                     receipts.receipt_for(session, settings, a, n))
                       for name in ALL}
            assert answers == expect(sees)


def test_rows_about_a_household_are_reached_where_it_lives(session: Session,
                                                           world: World) -> None:
    """The region of a consent, an objection and a query is the subject's."""
    for res, model in ((access.CONSENTS, Consent), (access.OBJECTIONS, Objection),
                       (access.QUERIES, CreditQuery)):
        assert res.region is not None
        regions = set(session.scalars(sa.select(res.region).select_from(model)))
        assert regions <= {VILLAGE_A, VILLAGE_C}, res.name
    assert access.COMPLAINTS.owner is not None
