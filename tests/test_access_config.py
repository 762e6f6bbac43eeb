"""Persona tests of the configuration's resources — proposals (view, propose, approve, reject,
roll back) and live versions (view) — as every persona of :mod:`tests.personas`, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from tests.factories import COUNTY, build_county
from tests.personas import ALL, BANK, Personas, attempt, build_personas, denials, expect

from ctown import configdir
from ctown.accounts.service import create_user
from ctown.config import service
from ctown.crypto import FieldCipher
from ctown.errors import NotFound

#: The county reaches every proposal and version; a bank those of its own products.
VIEWERS = {"admin", "bank", "other_bank"}
PROPOSERS = {"admin", "bank", "other_bank"}
APPROVERS = {"admin"}


def own_product(bank: str) -> dict[str, bytes]:
    text = configdir.defaults()["products/rcb_credit.yaml"].read_text(encoding="utf-8")
    code = f"{bank.lower()}_credit"
    return {f"products/{code}.yaml": text.replace("code: rcb_credit", f"code: {code}")
            .replace("bank_code: RCB", f"bank_code: {bank}").encode()}


@dataclass
class World:
    people: Personas
    folder: Path
    bank_proposal: int     # of the persona bank's product, proposed by a second county admin
    county_proposal: int   # of the grade table
    version: int           # live version 1 (the bank's product)


@pytest.fixture
def world(session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("CTOWN_CONFIG_DIR", raising=False)
    folder = tmp_path / "config"
    configdir.configure(folder)
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    second = create_user(session, username="admin2", password=None, role="county_admin",
                         region_code=COUNTY)
    first = service.propose(session, people["bank"], own_product(BANK), "", folder=folder)
    service.approve(session, second, first.id, folder=folder)
    product = own_product(BANK)
    name = next(iter(product))
    changed = {name: product[name].replace(b"version: 1\n", b"version: 2\n")
               .replace(b'base_rate_pct: "4.35"', b'base_rate_pct: "4.25"')}
    bank_proposal = service.propose(session, second, changed, "", folder=folder)
    grades = configdir.defaults()["grades.yaml"].read_text(encoding="utf-8").replace(
        "version: 1\n", "version: 2\n").replace("model_weight: 0.5", "model_weight: 0.4")
    county_proposal = service.propose(session, second, {"grades.yaml": grades.encode()}, "",
                                      folder=folder)
    yield World(people, folder, bank_proposal.id, county_proposal.id, 1)
    configdir.reset()


class TestProposals:
    def test_list_and_get(self, session: Session, world: World) -> None:
        """(One test over every persona: the world costs two seconds to build.)"""
        for name in ALL:
            actor = world.people[name]
            answers = {
                "list": attempt(session, lambda a=actor: service.proposals_for(session, a)),
                "bank": attempt(session, lambda a=actor: service.get_proposal_for(
                    session, a, world.bank_proposal)),
                "county": attempt(session, lambda a=actor: service.get_proposal_for(
                    session, a, world.county_proposal)),
            }
            expected = {"admin": ("ok", "ok", "ok"), "bank": ("ok", "ok", "404"),
                        "other_bank": ("ok", "404", "404")}.get(name, ("403", "404", "404"))
            assert tuple(answers.values()) == expected, name
            if name not in ("admin", "bank"):  # logged (outside the rolled-back attempts)
                with pytest.raises(NotFound):
                    service.get_proposal_for(session, actor, world.bank_proposal)
                assert denials(session, world.people, name) == [
                    f"config proposal {world.bank_proposal}: view"], name
        assert [p.id for p in service.proposals_for(session, world.people["bank"])] == [
            world.bank_proposal, 1]
        assert service.proposals_for(session, world.people["other_bank"]) == []

    def test_propose_the_banks_product(self, session: Session, world: World) -> None:
        """The persona bank's product (bank code RCB001): the county and that bank propose it;
        another bank is refused, and so is every role without a part."""
        product = own_product(BANK)
        name = next(iter(product))
        changed = {name: product[name].replace(b"version: 1\n", b"version: 3\n")}
        answers = {n: attempt(session, lambda a=world.people[n]: service.propose(
            session, a, changed, "", folder=world.folder)) for n in ALL}
        assert answers == expect({"admin", "bank"}, set(ALL) - {"admin", "bank"})

    def test_propose_a_county_file(self, session: Session, world: World) -> None:
        catalogue = configdir.defaults()["catalogue.yaml"].read_text(encoding="utf-8").replace(
            "version: 1\n", "version: 3\n").encode()
        answers = {n: attempt(session, lambda a=world.people[n]: service.propose(
            session, a, {"catalogue.yaml": catalogue}, "", folder=world.folder)) for n in ALL}
        assert answers == expect({"admin"}, set(ALL) - {"admin"})

    def test_approve_and_reject(self, session: Session, world: World) -> None:
        approve = {n: attempt(session, lambda a=world.people[n]: service.approve(
            session, a, world.county_proposal, folder=world.folder)) for n in ALL}
        assert approve == expect(APPROVERS, set(ALL) - APPROVERS)
        reject = {n: attempt(session, lambda a=world.people[n]: service.reject(
            session, a, world.bank_proposal, "no")) for n in ALL}
        assert reject == expect(APPROVERS, set(ALL) - APPROVERS)

    def test_roll_back(self, session: Session, world: World) -> None:
        answers = {n: attempt(session, lambda a=world.people[n]: service.propose_rollback(
            session, a, 0, "", folder=world.folder)) for n in ALL}
        assert answers == expect({"admin"}, set(ALL) - {"admin"})


class TestVersions:
    def test_list_and_get(self, session: Session, world: World) -> None:
        for name in ALL:
            actor = world.people[name]
            listed = attempt(session, lambda a=actor: service.versions_for(session, a))
            got = attempt(session, lambda a=actor: service.get_version_for(session, a,
                                                                          world.version))
            expected = {"admin": ("ok", "ok"), "bank": ("ok", "ok"), "other_bank": ("ok", "404")}
            assert (listed, got) == expected.get(name, ("403", "404")), name
        assert service.versions_for(session, world.people["other_bank"]) == []
