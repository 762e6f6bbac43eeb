"""The access layer honours a mandate's scope (R-6.3): purposes map to scopes in one place
(``access.policy.BY_MANDATE``); a proxy reaches the household only for what its mandate covers,
and not at all under a mandate expired, revoked or never confirmed — across the subject, its
credit file, grade, applications, consents and query log. Then the mandates themselves, as every
persona. Both databases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, build_county
from tests.personas import ALL, BANK, Personas, attempt, build_personas, expect, mandate

from ctown.access import policy, rules
from ctown.access.policy import BY_MANDATE, MANDATE_SCOPES, Reach
from ctown.access.scope import get_subject_for
from ctown.accounts.models import ProxyMandate
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import Forbidden
from ctown.ingest.creditfile import credit_file
from ctown.lending import service as lending
from ctown.lending.approval import Action
from ctown.lending.decision import Request
from ctown.privacy import service as privacy
from ctown.privacy.models import Consent
from ctown.proxy import acts, service
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord
from ctown.scoring.service import grade_for

REQ = Request(Decimal("20000"), 12, "equal_instalment")


# -- the one table -------------------------------------------------------------------------------
def test_every_reach_by_mandate_names_its_scopes() -> None:
    """A row reached by mandate without scopes would raise at query time; a scope row without a
    mandate reach is a stale line. Each names at least one real scope."""
    by_mandate = {(res, purpose) for res, purposes in policy.POLICY.items()
                  for purpose, by_role in purposes.items()
                  if any(Reach.mandate in reach for reach in by_role.values())}
    assert by_mandate == set(BY_MANDATE)
    assert all(scopes and scopes <= set(MANDATE_SCOPES) for scopes in BY_MANDATE.values())
    with pytest.raises(KeyError):
        policy.mandate_scopes("subject", "no_such_purpose")


# -- what each scope reaches -------------------------------------------------------------------------
@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    # The household qualifies for a loan: A1, a head young enough for the products.
    session.execute(sa.update(Subject).where(Subject.household_id == people.home)
                    .values(birth_date=dt.date(1980, 5, 1)))
    session.add(GradeRecord(subject_id=people.home, score=700, grade="A1", pd=0.01, reasons=[],
                            model_version="test", scored_at=utcnow(), is_current=True))
    for scope in MANDATE_SCOPES:
        user = create_user(session, username=f"proxy_{scope}", role=Role.credit_proxy,
                           region_code=VILLAGE_A, password=None)
        people.users[f"proxy_{scope}"] = user
        session.add(mandate(user.id, people.home, scopes=(scope,),
                            valid_until=utcnow() + dt.timedelta(days=30)))
    session.flush()
    return people


#: Every proxy persona: all three scopes in force, one scope each, and the three that are off.
PROXIES = ("proxy", "proxy_query", "proxy_apply", "proxy_consent", "proxy_expired",
           "proxy_revoked", "proxy_unconfirmed")


def _actions(session: Session, people: Personas) -> dict[str, Callable[[Any], object]]:
    home = people.home
    farmer_app, _d = lending.apply(session, people["farmer"], subject_id=None,
                                   product_code="rcb_credit", req=REQ)
    bank_consent = session.scalar(sa.select(Consent.id).where(Consent.subject_id == home))
    assert bank_consent is not None

    def logged_queries(actor: Any) -> object:
        if not privacy.queries_for(session, actor, home):
            raise _Empty  # reached, but no entry of the log is theirs to see
        return None

    return {
        "register": lambda a: get_subject_for(session, a, home),
        "credit_file": lambda a: credit_file(session, a, home),
        "grade": lambda a: grade_for(session, a, home),
        "query_log": logged_queries,
        "apply": lambda a: lending.apply(session, a, subject_id=home, product_code="rcb_credit",
                                         req=REQ),
        "application": lambda a: lending.get_application_for(session, a, farmer_app.id),
        "withdraw": lambda a: lending.act(session, a, farmer_app.id, Action.withdraw),
        "give_consent": lambda a: privacy.grant_consent(
            session, a, subject_id=home, bank_code=BANK, purpose="credit_line"),
        "consent": lambda a: privacy.get_consent_for(session, a, bank_consent),
        "revoke_consent": lambda a: privacy.revoke_consent(session, a, bank_consent),
    }


class _Empty(Exception):
    pass

#: What each scope reaches: the register entry under any scope (one names the household to act
#: for it), the file, grade and query log under "query", applications under "apply", consents
#: under "consent". The apply form is refused (403) to a proxy who reaches the household but not
#: for applying; the rest of what is not covered does not exist for them (404).
EXPECTED = {
    "proxy": dict.fromkeys(("register", "credit_file", "grade", "query_log", "apply",
                            "application", "withdraw", "give_consent", "consent",
                            "revoke_consent"), "ok"),
    "proxy_query": {"register": "ok", "credit_file": "ok", "grade": "ok", "query_log": "ok",
                    "apply": "403", "application": "404", "withdraw": "404",
                    "give_consent": "404", "consent": "404", "revoke_consent": "404"},
    "proxy_apply": {"register": "ok", "credit_file": "404", "grade": "404", "query_log": "empty",
                    "apply": "ok", "application": "ok", "withdraw": "ok",
                    "give_consent": "404", "consent": "404", "revoke_consent": "404"},
    "proxy_consent": {"register": "ok", "credit_file": "404", "grade": "404",
                      "query_log": "empty", "apply": "403", "application": "404",
                      "withdraw": "404", "give_consent": "ok", "consent": "ok",
                      "revoke_consent": "ok"},
    **{name: {"register": "404", "credit_file": "404", "grade": "404", "query_log": "404",
              "apply": "404", "application": "404", "withdraw": "404", "give_consent": "404",
              "consent": "404", "revoke_consent": "404"}
       for name in ("proxy_expired", "proxy_revoked", "proxy_unconfirmed")},
}


def _try(session: Session, action: Callable[[], object]) -> str:
    try:
        return attempt(session, action)
    except _Empty:
        return "empty"


@pytest.mark.parametrize("name", PROXIES)
def test_a_mandate_reaches_what_its_scope_covers(session: Session, people: Personas,
                                                 name: str) -> None:
    actions = _actions(session, people)
    # A look by the query proxy first, so the log has an entry to show (or to hide).
    credit_file(session, people["proxy_query"], people.home)
    got = {what: _try(session, lambda act=act: act(people[name]))  # type: ignore[misc]
           for what, act in actions.items()}
    assert got == EXPECTED[name]


def test_a_mandate_ends_for_every_resource_at_once(session: Session, people: Personas) -> None:
    """The same proxy, the same household: in force, then expired, revoked, unconfirmed."""
    actions = _actions(session, people)
    proxy = people["proxy"]
    row = session.scalar(sa.select(ProxyMandate).where(ProxyMandate.proxy_id == proxy.id))
    assert row is not None
    ends: dict[str, dict[str, Any]] = {
        "expired": {"valid_until": utcnow() - dt.timedelta(seconds=1)},
        "revoked": {"revoked_at": utcnow()},
        "unconfirmed": {"confirmed_at": None, "confirmation": None}}
    for end, values in ends.items():
        saved = {k: getattr(row, k) for k in values}
        for k, v in values.items():
            setattr(row, k, v)
        session.flush()
        got = {what: _try(session, lambda act=act: act(proxy))  # type: ignore[misc]
               for what, act in actions.items()}
        assert set(got.values()) == {"404"}, (end, got)
        for k, v in saved.items():
            setattr(row, k, v)
        session.flush()
    assert _try(session, lambda: actions["credit_file"](proxy)) == "ok"


# -- the mandates themselves, as every persona -----------------------------------------------------
#: Who sees the household's mandates: its officers (village, township, county), the privacy
#: officer, the household itself — and each proxy their own only.
SEES_MANDATES = {"admin", "township", "village", "privacy", "farmer"}
RECORDERS = {"admin", "township", "village"}


def _mandates(session: Session, people: Personas) -> dict[str, int]:
    return {r.proxy_name: r.mandate.id for r in service.mandates_for(session, None)
            if r.mandate.subject_id == people.home}


@pytest.mark.parametrize("name", ALL)
def test_mandates_listed_as_each_persona(session: Session, people: Personas, name: str) -> None:
    ids = _mandates(session, people)
    actor = people[name]
    if not policy.reaches("mandate", "view", actor.role):
        with pytest.raises(Forbidden):
            service.mandates_for(session, actor)
        return
    listed = {r.mandate.id for r in service.mandates_for(session, actor)}
    if name in SEES_MANDATES:
        assert listed >= set(ids.values())
    elif name in ids:  # a proxy: their own, whatever its state
        assert listed == {ids[name]}
    else:
        assert listed == set()


def test_get_record_confirm_revoke_as_each_persona(session: Session, people: Personas,
                                                   tmp_path: Path) -> None:
    cipher = FieldCipher.load(tmp_path / "k.json")
    ids = _mandates(session, people)
    waiting = ids["proxy_unconfirmed"]
    until = rules.today() + dt.timedelta(days=20)
    new_proxy = create_user(session, username="proxy_new", role=Role.credit_proxy,
                            region_code=VILLAGE_A, password=None)

    def each(action: Callable[[Any], object]) -> dict[str, str]:
        return {n: attempt(session, lambda a=people[n]: action(a)) for n in ALL}

    # One row: "not found" to whoever does not reach it, whatever their role.
    assert each(lambda a: service.get_mandate_for(session, a, waiting)) == expect(
        SEES_MANDATES | {"proxy_unconfirmed"})
    assert each(lambda a: service.record(
        session, a, household_id=people.home, proxy_id=new_proxy.id, scopes=["query"],
        until=until)) == expect(RECORDERS, _no_reach("record", people))
    assert each(lambda a: service.send_code(session, a, cipher, waiting)) == expect(
        RECORDERS, _no_reach("record", people))
    assert each(lambda a: service.confirm_paper(session, a, waiting, "F-1")) == expect(
        RECORDERS, _no_reach("record", people))
    assert each(lambda a: service.revoke(session, a, ids["proxy"], "x")) == expect(
        RECORDERS | {"farmer"}, _no_reach("revoke", people))
    assert each(lambda a: acts.acts_on_household(session, a, people.home)) == expect(
        SEES_MANDATES, _no_reach("acts", people))


def _no_reach(purpose: str, people: Personas) -> set[str]:
    """The personas whose role reaches no mandate at all for the purpose (403)."""
    return {n for n in ALL if not policy.reaches("mandate", purpose, people[n].role)}
