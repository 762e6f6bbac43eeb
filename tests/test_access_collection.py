"""Persona tests of the collection points' resources — terminals (list, get, register, enrol,
revoke) and the upload log — as every persona of :mod:`tests.personas`, on both databases."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_B, VILLAGE_C, build_county
from tests.personas import ALL, Personas, attempt, build_personas, denials, expect

from ctown.access.scope import allowed
from ctown.collection import protocol, service
from ctown.collection.models import Terminal, UploadLog
from ctown.crypto import FieldCipher
from ctown.errors import Forbidden, NotFound

#: Terminals (by their village) each persona lists: officers by place; nobody else.
TERMINALS = {"admin": {"A", "C"}, "township": {"A"}, "township2": {"C"}, "village": {"A"}}
#: Who opens the terminal page: the officers (village B, village2's, has no terminal).
VIEWERS = {"admin", "township", "township2", "village", "village2"}
#: Who manages (registers, revokes) terminals: the county, and a township for its villages.
MANAGERS = {"admin", "township", "township2"}
#: Upload attempts each persona reads; the county also those of unknown terminals (no village).
UPLOADS = {"admin": {"A", "C", "unknown"}, "township": {"A"}, "township2": {"C"},
           "village": {"A"}}


@dataclass
class World:
    people: Personas
    terminals: dict[str, str]  # "A", "C": a terminal of village A, C
    uploads: dict[str, int]    # "A", "C", "unknown"


def _key() -> str:
    return protocol.b64e(protocol.raw_public(Ed25519PrivateKey.generate().public_key()))


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    terminals = {v: service.register_terminal(session, actor=None, public_key=_key(),
                                              village_code=code, name=f"终端 {v}", via="cli").id
                 for v, code in (("A", VILLAGE_A), ("C", VILLAGE_C))}
    uploads = {}
    for name, village in (("A", VILLAGE_A), ("C", VILLAGE_C), ("unknown", None)):
        log = UploadLog(terminal_id=terminals.get(name), village_code=village, batch_id="b",
                        outcome="refused", code="malformed", reason_zh="格式", reason_en="format")
        session.add(log)
        session.flush()
        uploads[name] = log.id
    return World(people, terminals, uploads)








class TestTerminals:
    @pytest.mark.parametrize("name", ALL)
    def test_list_and_get(self, session: Session, world: World, name: str) -> None:
        actor, reached = world.people[name], TERMINALS.get(name, set())
        assert {t.id for t in service.terminals_for(session, actor)} == {
            world.terminals[v] for v in reached}
        refused = []
        for village, terminal_id in world.terminals.items():
            if village in reached:
                assert service.get_terminal_for(session, actor, terminal_id).id == terminal_id
                continue
            with pytest.raises(NotFound):
                service.get_terminal_for(session, actor, terminal_id)
            refused.append(f"terminal {terminal_id}: view")
        assert denials(session, world.people, name) == refused

    @pytest.mark.parametrize("name", ALL)
    def test_the_terminal_page(self, session: Session, world: World, name: str) -> None:
        """The page lists what the API lists (a village officer: its village's terminals); only
        those who manage may register, and revoke the terminals they manage."""
        actor = world.people[name]
        if name not in VIEWERS:
            with pytest.raises(Forbidden):
                service.terminal_desk(session, actor)
            return
        desk = service.terminal_desk(session, actor)
        reached = {world.terminals[v] for v in TERMINALS.get(name, set())}
        assert {t.id for t in desk.terminals} == reached
        assert {t.id for t in desk.terminals} == {t.id for t in service.terminals_for(
            session, actor)}
        assert {u.id for u in desk.uploads} == {world.uploads[v] for v in UPLOADS.get(name, set())}
        assert desk.can_register == (name in MANAGERS)
        assert desk.manageable == (reached if name in MANAGERS else set())

    def test_register(self, session: Session, world: World) -> None:
        """At the county's or township's desk, for a village of their area; a township officer
        of another township is refused (the village is public, its terminals are not theirs)."""
        def register(village: str) -> dict[str, str]:
            return {name: attempt(session, lambda a=world.people[name]: service.register_terminal(
                session, actor=a, public_key=_key(), village_code=village, name="x",
                via="admin")) for name in ALL}

        assert register(VILLAGE_A) == expect({"admin", "township"}, set(ALL))
        assert register(VILLAGE_C) == expect({"admin", "township2"}, set(ALL))
        with pytest.raises(Forbidden):
            service.register_terminal(session, actor=world.people["township2"],
                                      public_key=_key(), village_code=VILLAGE_A, name="x",
                                      via="admin")
        assert denials(session, world.people, "township2") == [
            f"terminal for village {VILLAGE_A}: manage"]
        assert session.scalar(sa.select(sa.func.count()).select_from(Terminal)) == 2

    def test_enrol(self, session: Session, world: World) -> None:
        """A village officer's browser enrols itself for its own village."""
        answers = {name: attempt(session, lambda a=world.people[name]: service.register_terminal(
            session, actor=a, public_key=_key(), village_code=VILLAGE_A, name="手机", via="web"))
            for name in ALL}
        assert answers == expect({"admin", "township", "village"}, set(ALL))
        assert attempt(session, lambda: service.register_terminal(
            session, actor=world.people["village2"], public_key=_key(), village_code=VILLAGE_B,
            name="手机", via="web")) == "ok"

    def test_revoke(self, session: Session, world: World) -> None:
        def revoke(village: str) -> dict[str, str]:
            return {name: attempt(session, lambda a=world.people[name]: service.revoke_terminal(
                session, actor=a, terminal_id=world.terminals[village], reason="遗失"))
                for name in ALL}

        assert revoke("A") == expect({"admin", "township"})
        assert revoke("C") == expect({"admin", "township2"})

    def test_the_county_cli_reaches_every_terminal(self, session: Session, world: World
                                                   ) -> None:
        assert {t.id for t in service.terminals_for(session, None)} == set(
            world.terminals.values())
        assert {u.id for u in service.upload_log_for(session, None)} == set(
            world.uploads.values())
        revoked = service.revoke_terminal(session, actor=None, terminal_id=world.terminals["C"],
                                          reason="换机")
        assert revoked.revoked_at is not None


class TestUploads:
    @pytest.mark.parametrize("name", ALL)
    def test_list(self, session: Session, world: World, name: str) -> None:
        listed = {u.id for u in service.upload_log_for(session, world.people[name])}
        assert listed == {world.uploads[v] for v in UPLOADS.get(name, set())}

    def test_collecting_is_for_village_officers(self, world: World) -> None:
        """The offline collection form (its feature gate in the one table)."""
        assert {name for name in ALL if allowed(world.people[name], "upload", "collect")} == {
            "village", "village2"}
