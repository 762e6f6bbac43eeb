"""Persona tests of the feeds' resources — quarantined rows, identity confirmations, held values,
batches — as every persona of :mod:`tests.personas`, on both databases.

The rows are made the way the feeds make them (pushed batches, values recorded by a capability),
so the region a quarantined row carries is the pipeline's own: from the row's village column, or
from the subject its identifier resolves to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_C, build_county
from tests.personas import ALL, Personas, build_personas

from ctown.access.scope import get_for
from ctown.accounts.models import AccessLog, User
from ctown.crypto import FieldCipher
from ctown.errors import Forbidden, NotFound
from ctown.ingest import quarantine
from ctown.ingest.access import BATCHES, HELD_VALUES
from ctown.ingest.feeds import add_department
from ctown.ingest.hold import held_overview, held_summary
from ctown.ingest.models import Batch, HeldValue, PendingMatch, QuarantinedRow
from ctown.ingest.service import list_batches, push_batch, push_for, record_values
from ctown.registry.models import Subject
from ctown.registry.service import resident_id_of

DAY = dt.date(2025, 6, 30)


@dataclass
class World:
    people: Personas
    cipher: FieldCipher
    rows: dict[str, int]      # quarantined rows by name
    matches: dict[str, int]   # pending matches: "home", "far"
    held: dict[str, int]      # a held value of each household, and one of the tax department
    batches: dict[str, int]   # the pushed batches by department


def _head_id(session: Session, cipher: FieldCipher, household: int) -> str:
    head = session.scalars(sa.select(Subject).where(Subject.household_id == household)
                           .order_by(Subject.id)).first()
    assert head is not None
    rid = resident_id_of(cipher, head)
    assert rid is not None
    return rid


def _hrss(name: str, birth: str, village: str) -> dict[str, str]:
    return {"社会保障号码": "", "姓名": name, "出生日期": birth, "参保村代码": village,
            "医疗保险参保状态": "已参保", "统计日期": DAY.isoformat()}


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    return _build_world(session, tmp_path)


def _build_world(session: Session, tmp_path: Path) -> World:
    cipher = FieldCipher.load(tmp_path / "keys.json")
    people = build_personas(session, build_county(session, cipher))
    home_id, far_id = (_head_id(session, cipher, h) for h in (people.home, people.far))
    bank, _ = push_batch(session, cipher, department="bank", batch_id="q-bank", actor_id=None,
                         rows=[{"客户证件号码": home_id, "贷款余额（元）": "不是数"},
                               {"客户证件号码": far_id, "贷款余额（元）": "不是数"},
                               {"客户证件号码": "123", "贷款余额（元）": "5"}])
    tax, _ = push_batch(session, cipher, department="tax", batch_id="q-tax", actor_id=None,
                        rows=[{"纳税人识别号": "not-a-code", "纳税信用级别": "A"}])
    # Heads of the households in village A (张0, born 1950-01-01) and C (张200, 1950-09-05).
    hrss, _ = push_batch(session, cipher, department="hrss", batch_id="q-hrss", actor_id=None,
                         rows=[_hrss("张0", "1950-01-01", VILLAGE_A),
                               _hrss("张200", "1950-09-05", VILLAGE_C),
                               _hrss("无此人", "1980-01-01", VILLAGE_C)])

    def row(batch: Batch, seq: int) -> int:
        return session.scalars(sa.select(QuarantinedRow.id).where(
            QuarantinedRow.batch_id == batch.id, QuarantinedRow.seq == seq)).one()

    rows = {"bank_home": row(bank, 0), "bank_far": row(bank, 1), "bank_unknown": row(bank, 2),
            "tax": row(tax, 0), "hrss_home": row(hrss, 0), "hrss_far": row(hrss, 1),
            "hrss_unmatched": row(hrss, 2)}
    matches = {name: session.scalars(sa.select(PendingMatch.id).where(
        PendingMatch.quarantined_row_id == rows[f"hrss_{name}"])).one() for name in ("home", "far")}
    # Household income needs the collection consent: none of these households has one.
    for household, department in ((people.home, "bank"), (people.far, "bank"), (people.home, "tax")):
        record_values(session, actor=None, department=department, source=f"t {household}",
                      values=[(household, "I0401", 36_000, DAY)], cipher=cipher)
    held = {f"{name}_{dept}": session.scalars(sa.select(HeldValue.id).where(
        HeldValue.household_id == hh, HeldValue.department == dept)).one()
        for name, hh, dept in (("home", people.home, "bank"), ("far", people.far, "bank"),
                               ("home", people.home, "tax"))}
    return World(people, cipher, rows, matches, held,
                 {"bank": bank.id, "tax": tax.id, "hrss": hrss.id})


def _denials(session: Session, world: World, name: str) -> list[str]:
    return list(session.scalars(sa.select(AccessLog.detail).where(
        AccessLog.user_id == world.people[name].id, AccessLog.event == "denied")
        .order_by(AccessLog.id)))


def test_quarantined_rows_carry_the_region_they_name(session: Session, world: World) -> None:
    """From the subject the identifier resolves to, else the row's village column; a row that
    names neither has none (the county's alone)."""
    region = {name: session.get_one(QuarantinedRow, rid).region_code
              for name, rid in world.rows.items()}
    assert region == {"bank_home": VILLAGE_A, "bank_far": VILLAGE_C, "bank_unknown": None,
                      "tax": None, "hrss_home": VILLAGE_A, "hrss_far": VILLAGE_C,
                      "hrss_unmatched": VILLAGE_C}


# -- quarantined rows ------------------------------------------------------------------------------
#: Open rows each persona reaches; a persona not named reaches none (the list is refused).
OPEN_ROWS = {
    "admin": {"bank_home", "bank_far", "bank_unknown", "tax", "hrss_unmatched"},
    "township": {"bank_home"},
    "township2": {"bank_far", "hrss_unmatched"},
    "feed": {"tax"},  # a department's feed account: its own department's rows only
}


class TestQuarantine:
    @pytest.mark.parametrize("name", ALL)
    def test_list(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name not in OPEN_ROWS:
            with pytest.raises(Forbidden):
                quarantine.list_rows(session, world.cipher, actor)
            return
        page = quarantine.list_rows(session, world.cipher, actor, limit=100)
        ids = {item["id"] for item in page["items"]}
        assert ids == {world.rows[n] for n in OPEN_ROWS[name]}
        assert page["total"] == len(ids) == sum(page["by_reason"].values())
        held = quarantine.list_rows(session, world.cipher, actor, status="held")
        expected_held = {"admin": {"hrss_home", "hrss_far"}, "township": {"hrss_home"},
                         "township2": {"hrss_far"}}.get(name, set())
        assert {i["id"] for i in held["items"]} == {world.rows[n] for n in expected_held}

    @pytest.mark.parametrize("name", ALL)
    def test_get(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        reached = OPEN_ROWS.get(name, set())
        for row, row_id in world.rows.items():
            if row in reached:
                detail = quarantine.row_detail(session, world.cipher, actor, row_id)
                assert detail["id"] == row_id and detail["row"]
        refused = [(r, i) for r, i in world.rows.items() if r not in reached and
                   r.startswith(("bank", "tax", "hrss_unmatched"))]
        for _row, row_id in refused:
            with pytest.raises(NotFound):
                quarantine.get_row(session, actor, row_id)
        assert _denials(session, world, name) == [f"quarantined row {i}: view" for _r, i in refused]

    @pytest.mark.parametrize("name", ALL)
    def test_fix_discard_replay(self, session: Session, world: World, name: str) -> None:
        actor, row_id = world.people[name], world.rows["bank_home"]
        if "bank_home" not in OPEN_ROWS.get(name, set()):
            for act in (lambda: quarantine.fix_row(session, world.cipher, actor, row_id,
                                                   {"贷款余额（元）": "8000"}),
                        lambda: quarantine.discard(session, actor, [row_id]),
                        lambda: quarantine.replay(session, world.cipher, actor, ids=[row_id])):
                with pytest.raises(NotFound):
                    act()
            assert session.get_one(QuarantinedRow, row_id).status == "open"
            assert _denials(session, world, name) == [f"quarantined row {row_id}: resolve"] * 3
            # A replay of "everything" replays only what the actor reaches.
            quarantine.replay(session, world.cipher, actor)
            assert session.get_one(QuarantinedRow, row_id).status == "open"
            return
        quarantine.fix_row(session, world.cipher, actor, row_id, {"贷款余额（元）": "8000"})
        assert quarantine.replay(session, world.cipher, actor, ids=[row_id])["accepted"] == 1
        assert session.get_one(QuarantinedRow, row_id).status == "replayed"
        assert quarantine.discard(session, actor, [world.rows["bank_home"]]) == 0  # not open
        if name == "admin":
            assert quarantine.discard(session, actor, [world.rows["bank_unknown"]]) == 1

    def test_the_county_job_reaches_every_row(self, session: Session, world: World) -> None:
        page = quarantine.list_rows(session, world.cipher, None, limit=100)
        assert {i["id"] for i in page["items"]} == {world.rows[n] for n in OPEN_ROWS["admin"]}


# -- identity confirmations ----------------------------------------------------------------------------
MATCHES = {"admin": {"home", "far"}, "township": {"home"}, "township2": {"far"}}


class TestMatches:
    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name not in MATCHES:
            with pytest.raises(Forbidden):  # the feed's clerks do not confirm identities either
                quarantine.list_matches(session, world.cipher, actor)
            return
        items = quarantine.list_matches(session, world.cipher, actor)
        assert {m["id"] for m in items} == {world.matches[n] for n in MATCHES[name]}
        names = {"home": "张*", "far": "张**0"}  # the register's names, masked (张0, 张200)
        assert {m["id"]: m["subject_name"] for m in items} == {
            world.matches[n]: names[n] for n in MATCHES[name]}

    @pytest.mark.parametrize("name", ALL)
    def test_decide(self, session: Session, world: World, name: str) -> None:
        actor, match_id = world.people[name], world.matches["home"]
        if "home" not in MATCHES.get(name, set()):
            with pytest.raises(NotFound):
                quarantine.decide(session, world.cipher, actor, match_id, confirm=True)
            assert session.get_one(PendingMatch, match_id).status == "pending"
            assert _denials(session, world, name) == [f"match {match_id}: decide"]
            return
        match = quarantine.decide(session, world.cipher, actor, match_id, confirm=False)
        assert match.status == "rejected"
        row = session.get_one(QuarantinedRow, world.rows["hrss_home"])
        assert row.status == "open" and row.region_code == VILLAGE_A


# -- values held until consent ------------------------------------------------------------------------
#: Who records the farmer's collection consent and sees its held counts (consent page).
CONSENT_DESK = {"admin", "township", "village", "farmer", "proxy"}
#: The overview per indicator: what each persona's counts cover.
OVERVIEW = {"admin": ("home_bank", "far_bank", "home_tax"), "township": ("home_bank", "home_tax"),
            "township2": ("far_bank",), "feed": ("home_tax",)}
#: Who reaches one held value of each household.
HELD = {"home_bank": CONSENT_DESK, "far_bank": {"admin", "township2"}}


class TestHeldValues:
    @pytest.mark.parametrize("name", ALL)
    def test_overview(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        if name not in OVERVIEW:
            with pytest.raises(Forbidden):
                held_overview(session, actor)
            return
        rows = held_overview(session, actor)
        households = {world.people.home if k.startswith("home") else world.people.far
                      for k in OVERVIEW[name]}
        assert rows == [{"indicator": "I0401", "values": len(OVERVIEW[name]),
                         "households": len(households)}]

    @pytest.mark.parametrize("name", ALL)
    def test_household_counts(self, session: Session, world: World, name: str) -> None:
        actor, now = world.people[name], dt.datetime.now(dt.UTC)
        if name not in CONSENT_DESK:
            with pytest.raises(NotFound):
                held_summary(session, actor, world.people.home, now)
            assert _denials(session, world, name) == [
                f"subject {world.people.home}: collect_consent"]
            return
        summary = held_summary(session, actor, world.people.home, now)
        assert summary["total"] == 2 and summary["active"] is None
        assert summary["by_indicator"][0]["code"] == "I0401"

    @pytest.mark.parametrize("name", ALL)
    def test_get(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        for held, who in HELD.items():
            if name in who:
                assert get_for(session, actor, HELD_VALUES, world.held[held]).id == world.held[held]
            else:
                with pytest.raises(NotFound):
                    get_for(session, actor, HELD_VALUES, world.held[held])


# -- batches ----------------------------------------------------------------------------------------------
#: A file's counts carry no personal data: the county and every township officer see them all.
BATCH_VIEW = {"admin": None, "township": None, "township2": None, "feed": "tax"}  # None: all


class TestBatches:
    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        actor = world.people[name]
        every = set(session.scalars(sa.select(Batch.id)))
        if name not in BATCH_VIEW:
            with pytest.raises(Forbidden):
                list_batches(session, actor)
            for batch_id in world.batches.values():
                with pytest.raises(NotFound):
                    get_for(session, actor, BATCHES, batch_id)
            return
        department = BATCH_VIEW[name]
        expected = every if department is None else set(session.scalars(
            sa.select(Batch.id).where(Batch.department == department)))
        assert {b.id for b in list_batches(session, actor)} == expected
        assert get_for(session, actor, BATCHES, world.batches["tax"]).department == "tax"
        if department is not None:
            with pytest.raises(NotFound):
                get_for(session, actor, BATCHES, world.batches["bank"])

    @pytest.mark.parametrize("name", ALL)
    def test_push(self, session: Session, world: World, name: str) -> None:
        """No person pushes — not even the department's own clerk (``feed``, role
        department_feed of tax): only the department's machine account, which only its key
        authenticates (tests/test_departments.py)."""
        actor = world.people[name]
        row = {"纳税人识别号": "not-a-code", "纳税信用级别": "A"}
        with pytest.raises(Forbidden):
            push_for(session, world.cipher, actor, department="tax", batch_id="p1", rows=[row])
        assert _denials(session, world, name) == (
            ["feed push tax: a person, not the department's key"] if name == "feed" else [])

    def test_push_as_the_department(self, session: Session, world: World) -> None:
        department = add_department(session, None, code="tax", name="县税务局")
        machine = session.get_one(User, department.user_id)
        row = {"纳税人识别号": "not-a-code", "纳税信用级别": "A"}
        batch, resent = push_for(session, world.cipher, machine, department="tax",
                                 batch_id="p1", rows=[row])
        assert batch.department == "tax" and not resent and batch.quarantined == 1
        assert batch.actor_id == machine.id
        with pytest.raises(Forbidden):  # another department's key
            push_for(session, world.cipher, machine, department="bank", batch_id="p2",
                     rows=[row])
        assert list(session.scalars(sa.select(AccessLog.detail).where(
            AccessLog.user_id == machine.id, AccessLog.event == "denied"))) == ["feed push bank"]


# -- the pages, as each persona (tokens: no password hashing) ---------------------------------------
@pytest.fixture(scope="module")
def site(db_factory: Any, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[Any, dict[str, str], dict[str, int], str]]:
    from ctown.accounts.service import issue_token
    from ctown.db import make_engine, session_factory
    from webutil import make_app_client

    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("ingest_access")
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        built = _build_world(s, var)
        tokens = {name: issue_token(s, built.people[name], "test") for name in ALL}
        rows = dict(built.rows)
    engine.dispose()
    with make_app_client(url, var) as client:
        yield client, tokens, rows, url
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", ALL)
def test_pages(site: tuple[Any, dict[str, str], dict[str, int], str], name: str) -> None:
    """A role that reaches nothing of a page is refused (403); a row it does not reach is not
    found (404), and the denial is logged although the request fails."""
    from ctown.db import make_engine

    client, tokens, rows, url = site
    headers = {"Authorization": f"Bearer {tokens[name]}"}

    def status(path: str) -> int:
        return int(client.get(path, headers=headers).status_code)

    assert status("/ingest/quarantine") == (200 if name in OPEN_ROWS else 403)
    assert status("/ingest/matches") == (200 if name in MATCHES else 403)
    assert status("/ingest/held") == (200 if name in OVERVIEW else 403)
    assert status("/ingest/batches") == (200 if name in BATCH_VIEW else 403)
    row = f"/ingest/quarantine/{rows['bank_home']}"
    expected = 200 if "bank_home" in OPEN_ROWS.get(name, set()) else (
        404 if name in OPEN_ROWS else 403)
    assert status(row) == expected
    if expected == 404:
        engine = make_engine(url)
        with engine.connect() as conn:
            denied = conn.execute(sa.text(
                "SELECT l.detail FROM access_log AS l JOIN users AS u ON u.id = l.user_id "
                "WHERE u.username = :u AND l.event = 'denied'"), {"u": name}).scalars().all()
        engine.dispose()
        assert f"quarantined row {rows['bank_home']}: view" in denied
