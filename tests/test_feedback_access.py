"""Who reaches feedback (R-7.1), as every persona of tests/personas.py, both databases: an item
is the officers' of the region it is routed to now, the household's and its proxy's; anyone
else gets "not found" for it (the denial logged), and a role that takes no feedback at all 403.
Then who may submit for the household, answer, and see the on-time figure."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from tests.factories import COUNTY, TOWNSHIP, build_county
from tests.personas import ALL, Personas, attempt, build_personas, denials, expect

from ctown.crypto import FieldCipher
from ctown.errors import NotFound
from ctown.feedback import service
from ctown.feedback.models import Feedback

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)
#: Roles with no reach on feedback at all: refused outright.
NO_FEEDBACK = {"group", "bank", "other_bank", "insurer", "merchant", "evaluator", "privacy",
               "feed"}
HOUSEHOLD = {"farmer", "proxy"}


@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    return build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))


def _item(session: Session, people: Personas, tmp: Path, kind: str = "feedback") -> Feedback:
    return service.submit(session, people["farmer"], subject_id=None, channel="page",
                          text="路灯坏了", kind=kind, cipher=FieldCipher.load(tmp / "k.json"),
                          now=T0)


def _gets(session: Session, people: Personas, item: Feedback) -> dict[str, str]:
    return {n: attempt(session, lambda n=n: service.get_feedback_for(session, people[n], item.id))
            for n in ALL}


def _lists(session: Session, people: Personas, item: Feedback) -> dict[str, str]:
    def listed(name: str) -> str:
        seen: list[int] = []
        outcome = attempt(session, lambda: seen.extend(
            i.id for i in service.queue_for(session, people[name])))
        return outcome if outcome != "ok" else ("ok" if item.id in seen else "404")
    return {n: listed(n) for n in ALL}


def test_a_village_item_as_every_persona(session: Session, people: Personas,
                                         tmp_path: Path) -> None:
    item = _item(session, people, tmp_path)
    sees = {"admin", "township", "village"} | HOUSEHOLD
    assert _gets(session, people, item) == expect(sees)
    assert _lists(session, people, item) == expect(sees, NO_FEEDBACK)
    with pytest.raises(NotFound):
        service.get_feedback_for(session, people["farmer2"], item.id)
    assert denials(session, people, "farmer2") == [f"feedback {item.id}: view"]


def test_a_complaint_is_not_the_village_officers(session: Session, people: Personas,
                                                 tmp_path: Path) -> None:
    """Routed to the township: the village officer it may be about does not see it."""
    item = _item(session, people, tmp_path, kind="complaint")
    assert item.region_code == TOWNSHIP
    assert _gets(session, people, item) == expect({"admin", "township"} | HOUSEHOLD)


def test_escalated_to_the_county_it_leaves_the_township(session: Session, people: Personas,
                                                        tmp_path: Path) -> None:
    item = _item(session, people, tmp_path)
    service.escalate_overdue(session, T0 + dt.timedelta(hours=48))
    service.escalate_overdue(session, T0 + dt.timedelta(hours=72))
    assert item.region_code == COUNTY
    assert _gets(session, people, item) == expect({"admin"} | HOUSEHOLD)


def test_who_answers(session: Session, people: Personas, tmp_path: Path) -> None:
    item = _item(session, people, tmp_path)
    ring = FieldCipher.load(tmp_path / "k.json")
    outcome = {n: attempt(session, lambda n=n: service.answer(session, people[n], item.id, "好",
                                                             cipher=ring))
               for n in ALL}
    households = {n for n in ALL if people[n].role in ("farmer", "credit_proxy")}
    assert outcome == expect({"admin", "township", "village"}, NO_FEEDBACK | households)


def test_who_submits_for_the_household(session: Session, people: Personas,
                                       tmp_path: Path) -> None:
    ring = FieldCipher.load(tmp_path / "k.json")

    def submit(name: str) -> Feedback:
        user = people[name]
        channel = "officer" if name in ("admin", "township", "village", "township2",
                                        "village2") else "page"
        return service.submit(session, user, subject_id=people.home, channel=channel,
                              text="反馈", cipher=ring)

    outcome = {n: attempt(session, lambda n=n: submit(n)) for n in ALL}
    # The proxies whose mandate is not in force do not reach the household: "not found".
    assert outcome == expect({"admin", "township", "village"} | HOUSEHOLD, NO_FEEDBACK)


def test_who_sees_the_on_time_figure(session: Session, people: Personas) -> None:
    def figure(name: str) -> object:
        return service.response_timeliness(session, people[name], None, T0, T0 + dt.timedelta(
            days=30))

    outcome = {n: attempt(session, lambda n=n: figure(n)) for n in ALL}
    officers = {"admin", "township", "village", "township2", "village2", "evaluator"}
    assert outcome == {n: "ok" if n in officers else "403" for n in ALL}
