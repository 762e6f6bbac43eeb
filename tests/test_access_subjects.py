"""Persona tests of the subject resource: the register entry, the credit file and the bank's
credit report, as every persona of :mod:`tests.personas`, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import build_county
from tests.personas import ALL, NOT_HOME, SEES_HOME, Personas, build_personas

from ctown.access import policy
from ctown.access.scope import get_subject_for, scope_subjects
from ctown.accounts.models import AccessLog
from ctown.crypto import FieldCipher
from ctown.errors import NotFound
from ctown.registry.models import Subject


@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    county = build_county(session, FieldCipher.load(tmp_path / "keys.json"))
    return build_personas(session, county)


def _listed(session: Session, people: Personas, name: str) -> set[int]:
    stmt = scope_subjects(sa.select(Subject.id).where(Subject.kind == "household"), people[name])
    return set(session.scalars(stmt))


@pytest.mark.parametrize("name", ALL)
def test_get_and_list_the_farmers_household(session: Session, people: Personas, name: str
                                            ) -> None:
    actor = people[name]
    if name in SEES_HOME:
        assert get_subject_for(session, actor, people.home).id == people.home
        assert people.home in _listed(session, people, name)
        return
    with pytest.raises(NotFound):
        get_subject_for(session, actor, people.home)
    assert people.home not in _listed(session, people, name)
    denied = session.scalars(sa.select(AccessLog.detail).where(
        AccessLog.user_id == actor.id, AccessLog.event == "denied")).all()
    assert denied == [f"subject {people.home}: view"]


def test_need_to_know_of_information_users(session: Session, people: Personas) -> None:
    """A bank sees the households that consented to it, not the county; merchants see none."""
    assert _listed(session, people, "bank") == {people.home}
    assert _listed(session, people, "other_bank") == set()
    assert _listed(session, people, "merchant") == set()
    assert _listed(session, people, "insurer") == set()
    with pytest.raises(NotFound):
        get_subject_for(session, people["bank"], people.neighbour)


def test_village_and_township_borders(session: Session, people: Personas) -> None:
    assert people.far not in _listed(session, people, "township")
    assert people.far in _listed(session, people, "township2")
    assert people.far in _listed(session, people, "admin")
    assert _listed(session, people, "village") & _listed(session, people, "village2") == set()
    assert _listed(session, people, "farmer") == {people.home}
    assert _listed(session, people, "farmer2") == {people.neighbour}


@pytest.mark.parametrize("name", ALL)
def test_credit_file_purpose(session: Session, people: Personas, name: str) -> None:
    """The raw credit file: officers of the place, oversight, the household and its proxy; a bank
    only through the consented credit report."""
    reaches_file = name in SEES_HOME - {"bank"}
    if reaches_file:
        assert get_subject_for(session, people[name], people.home, "credit_file")
    else:
        with pytest.raises(NotFound):
            get_subject_for(session, people[name], people.home, "credit_file")


def test_every_role_is_in_the_table_or_reaches_nothing() -> None:
    """A purpose names only real roles, and every reach is one the layer knows."""
    for row in policy.rows():
        assert row["reaches"], row
        for reach in row["reaches"].split(" | "):
            policy.Reach(reach)
    assert set(NOT_HOME) & set(SEES_HOME) == set()


def test_the_table_is_printed_for_review() -> None:
    """``ctown access policy --json``: the county reads the one table, row by row."""
    import json

    from typer.testing import CliRunner

    from ctown.cli import app

    result = CliRunner().invoke(app, ["access", "policy", "--resource", "subject", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {"resource": "subject", "purpose": "credit_report", "role": "bank_officer",
            "reaches": "consent"} in rows
    assert not any(r["role"] == "merchant" for r in rows)
    assert {r["resource"] for r in rows} == {"subject"}


@pytest.mark.parametrize("as_json", [[], ["--json"]])
def test_an_unknown_resource_is_refused_with_the_known_ones(as_json: list[str]) -> None:
    """A typo printed an empty table and exit 0, as if nobody reached anything."""
    from typer.testing import CliRunner

    from ctown.access import policy
    from ctown.cli import app

    result = CliRunner().invoke(app, ["access", "policy", "--resource", "nope", *as_json])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "未知的资源 nope" in result.stderr and "unknown resource nope" in result.stderr
    assert all(name in result.stderr for name in policy.POLICY)
