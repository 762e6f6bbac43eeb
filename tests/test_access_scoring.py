"""Persona tests of scoring's resources — a subject's grade and its history, model versions and
their review (view, sign, activate, roll back) — as every persona of :mod:`tests.personas`, on
both databases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import build_county
from tests.personas import ALL, NOT_HOME, SEES_HOME, Personas, attempt, build_personas, denials, expect

from ctown.access import policy
from ctown.accounts.service import create_user
from ctown.crypto import FieldCipher
from ctown.errors import Forbidden, NotFound
from ctown.privacy.models import CreditQuery
from ctown.scoring import review, service
from ctown.scoring.models import ModelVersion

#: Who takes part in the model review, who signs (the three parties: any township, any bank, the
#: assessor — the model is the county's), who puts it live.
SIGNERS = {"township", "township2", "bank", "other_bank", "evaluator"}
REVIEWERS = SIGNERS | {"admin"}
ACTIVATORS = {"admin"}


@dataclass
class World:
    people: Personas
    draft: int   # a version without sign-offs
    signed: int  # a version signed by the three parties, not yet live


def _version(session: Session, tag: str) -> ModelVersion:
    return review.register_version(session, actor=None, algorithm="woe-scorecard",
                                   fingerprint=(tag * 64)[:64], metrics={"auc": 0.8, "ks": 0.4},
                                   artifact={}, features=["I0504"])


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    for sid, grade in ((people.home, "B2"), (people.far, "A1")):
        service.record_grade(session, subject_id=sid, score=650, grade=grade, pd=0.03,
                             reasons=[], model_version="m001", actor=None)
    draft, signed = _version(session, "d"), _version(session, "s")
    for name, role in (("bank_signer", "bank_officer"), ("town_signer", "township_officer"),
                       ("audit_signer", "evaluator")):
        signer = create_user(session, username=name, password=None, role=role,
                             region_code=people["admin"].region_code, bank_code="RCB001")
        review.sign_off(session, version_id=signed.id, actor=signer)
    return World(people, draft.id, signed.id)








# -- grades ------------------------------------------------------------------------------------------
class TestGrades:
    @pytest.mark.parametrize("name", ALL)
    def test_get_and_history(self, session: Session, world: World, name: str) -> None:
        """The grade of the farmer's household: as the register entry, but not the insurer's."""
        actor, home = world.people[name], world.people.home
        if name in SEES_HOME:
            assert service.grade_for(session, actor, home).grade == "B2"
            assert [g.grade for g in service.grade_history_for(session, actor, home)] == ["B2"]
            page = service.grade_page(session, actor, home)
            assert page.subject.id == home and page.grade is not None and len(page.history) == 1
            return
        for read in (service.grade_for, service.grade_history_for, service.grade_page):
            with pytest.raises(NotFound):
                read(session, actor, home)
        assert denials(session, world.people, name) == [f"grade of subject {home}: view"] * 3

    @pytest.mark.parametrize("name", ALL)
    def test_every_look_goes_on_the_farmers_log(self, session: Session, world: World,
                                                name: str) -> None:
        """A look by anyone outside the household (its proxy too) is a query the farmer reads;
        a refused one is a denial, not a look."""
        service.grade_page(session, None, world.people.home)  # the county's own job: no look
        if name in SEES_HOME:
            service.grade_for(session, world.people[name], world.people.home)
        else:
            with pytest.raises(NotFound):
                service.grade_for(session, world.people[name], world.people.home)
        looks = session.scalars(sa.select(CreditQuery.actor_id).where(
            CreditQuery.subject_id == world.people.home, CreditQuery.purpose == "grade")).all()
        logged = name in SEES_HOME - {"farmer"}
        assert looks == ([world.people[name].id] if logged else [])

    def test_no_grade_is_not_found(self, session: Session, world: World) -> None:
        """The other farmer's household has no grade yet: "not found" to them as well."""
        with pytest.raises(NotFound):
            service.grade_for(session, world.people["farmer2"], world.people.neighbour)
        assert service.grade_page(session, world.people["farmer2"],
                                  world.people.neighbour).grade is None


# -- model versions ----------------------------------------------------------------------------------
class TestModels:
    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name not in REVIEWERS:
            for read in (lambda: review.versions_for(session, actor),
                         lambda: service.validation_report_for(session, actor, world.draft),
                         lambda: service.model_page(session, actor, world.draft)):
                with pytest.raises(Forbidden):
                    read()
            with pytest.raises(NotFound):
                review.get_version_for(session, actor, world.draft)
            assert denials(session, world.people, name) == [
                f"model version {world.draft}: view"]
            return
        assert {v.id for v in review.versions_for(session, actor)} == {world.draft, world.signed}
        assert review.get_version_for(session, actor, world.draft).id == world.draft
        page = service.model_page(session, actor, world.signed)
        assert page.report["missing_signoffs"] == []
        assert (page.can_sign, page.can_activate) == (name in SIGNERS, name in ACTIVATORS)

    def test_sign(self, session: Session, world: World) -> None:
        answers = {name: attempt(session, lambda a=world.people[name]: review.sign_off(
            session, version_id=world.draft, actor=a)) for name in ALL}
        assert answers == expect(SIGNERS, set(ALL) - SIGNERS)

    def test_activate_and_roll_back(self, session: Session, world: World) -> None:
        def go_live_and_back(actor: Any) -> None:
            review.activate(session, version_id=world.signed, actor=actor)
            review.rollback(session, actor=actor)

        answers = {name: attempt(session, lambda a=world.people[name]: go_live_and_back(a))
                   for name in ALL}
        assert answers == expect(ACTIVATORS, set(ALL) - ACTIVATORS)

    def test_a_missing_version_is_not_found(self, session: Session, world: World) -> None:
        for name in REVIEWERS:
            with pytest.raises(NotFound):
                review.get_version_for(session, world.people[name], world.signed + 1000)

    def test_the_table_lets_sign_exactly_the_three_parties(self) -> None:
        """The gate (the table's ``model``/``sign`` row) and the review's rule of who must sign
        (``SIGNOFF_ROLES``) name the same three roles."""
        assert policy.roles_with("model", "sign") == set(review.SIGNOFF_ROLES)
        assert policy.roles_with("model", "activate") <= policy.roles_with("model", "view")


def test_the_county_job_reaches_grades_and_models(session: Session, world: World) -> None:
    assert service.grade_for(session, None, world.people.far).grade == "A1"
    assert len(review.versions_for(session, None)) == 2
    assert NOT_HOME.isdisjoint(SEES_HOME)
