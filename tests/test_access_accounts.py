"""Persona tests of the accounts' resource "user" — list, get, add, change, disable, reset,
sessions — as every persona of :mod:`tests.personas`, on both databases; and the service's own
refusals (the last administrator, oneself, what a role must name), audited without passwords."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import COUNTY, TOWNSHIP, VILLAGE_A, VILLAGE_C, build_county
from tests.personas import ALL, Personas, attempt, build_personas, denials, expect

from ctown.accounts import users
from ctown.accounts.models import ApiToken, User, UserSession
from ctown.accounts.roles import Role
from ctown.accounts.service import issue_token
from ctown.accounts.sessions import Timeouts, start
from ctown.crypto import FieldCipher
from ctown.errors import Conflict, Invalid, NotFound
from ctown.privacy.models import AuditEvent
from ctown.settings import Settings

#: Who opens the user administration at all ("view"): the county and the townships.
VIEWERS = {"admin", "township", "township2"}
TIMEOUTS = Timeouts.of(Settings())


@pytest.fixture
def people(session: Session, tmp_path: Path) -> Personas:
    return build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))


def test_who_lists_whom(session: Session, people: Personas) -> None:
    listed = {name: {u.username for u in users.list_users(session, people[name])}
              for name in VIEWERS}
    everyone = set(session.scalars(sa.select(User.username)))
    assert listed["admin"] == everyone
    in_township = set(session.scalars(sa.select(User.username).where(
        User.region_code.startswith(TOWNSHIP[:9]))))
    assert listed["township"] == in_township
    assert {"village", "farmer", "proxy", "township"} <= in_township
    assert "bank" not in listed["township"] and "village" not in listed["township2"]
    for name in sorted(set(ALL) - VIEWERS):
        assert attempt(session, lambda n=name: users.list_users(session, people[n])) == "403"


def test_who_opens_a_village_officer(session: Session, people: Personas) -> None:
    target = people["village"].id
    seen = {n: attempt(session, lambda n=n: users.get_user_for(session, people[n], target))
            for n in ALL}
    assert seen == expect({"admin", "township"}, forbidden=set(ALL) - VIEWERS)
    with pytest.raises(NotFound):
        users.get_user_for(session, people["township2"], target)
    assert denials(session, people, "township2") == [f"user {target}: view"]


@pytest.mark.parametrize("action", ["change", "disable", "reset", "sessions", "tokens", "end"])
def test_only_the_county_manages(session: Session, people: Personas, action: str) -> None:
    target = people["village"].id
    calls = {
        "change": lambda a: users.change_user(session, a, target, region_code=VILLAGE_A),
        "disable": lambda a: users.set_active(session, a, target, False),
        "reset": lambda a: users.reset_password(session, a, target),
        "sessions": lambda a: users.sessions_for(session, a, target, TIMEOUTS),
        "tokens": lambda a: users.tokens_for(session, a, target),
        "end": lambda a: users.end_sessions(session, a, target, tokens=True),
    }
    seen = {n: attempt(session, lambda n=n: calls[action](people[n])) for n in ALL}
    assert seen == expect({"admin"}, forbidden=set(ALL) - {"admin"})


def test_only_the_county_adds(session: Session, people: Personas) -> None:
    seen = {n: attempt(session, lambda n=n: users.add_user(
        session, people[n], username=f"new_{n}", role=Role.village_officer,
        region_code=VILLAGE_C)) for n in ALL}
    assert seen == expect({"admin"}, forbidden=set(ALL) - {"admin"})


def test_one_sees_and_ends_only_ones_own_sessions_and_tokens(session: Session,
                                                            people: Personas) -> None:
    _sid, theirs = start(session, people["village"], client=None, agent=None)
    issue_token(session, people["village"], "script")
    token = session.scalar(sa.select(ApiToken).where(ApiToken.user_id == people["village"].id))
    assert token is not None
    for name in ("farmer", "township", "bank"):
        actor = people[name]
        assert attempt(session, lambda a=actor: users.end_session(
            session, a, people["village"].id, theirs.id)) in ("403", "404")
        assert attempt(session, lambda a=actor: users.revoke_token(
            session, a, a.id, token.id)) == "404"  # not theirs: not found
    users.end_session(session, people["village"], people["village"].id, theirs.id)
    assert theirs.end_reason == "ended"
    users.revoke_token(session, people["village"], people["village"].id, token.id)
    assert token.revoked_at is not None


def test_the_county_keeps_an_administrator(session: Session, people: Personas) -> None:
    admin = people["admin"]
    with pytest.raises(Conflict, match="唯一"):
        users.set_active(session, None, admin.id, False)
    with pytest.raises(Conflict, match="only active county administrator"):
        users.change_user(session, None, admin.id, role="township_officer")
    second = users.add_user(session, None, username="admin2", role=Role.county_admin,
                            region_code=COUNTY).user
    with pytest.raises(Conflict, match="disable your own"):
        users.set_active(session, admin, admin.id, False)
    users.set_active(session, second, admin.id, False)  # another admin may
    assert not admin.is_active


def test_what_a_role_must_name(session: Session, people: Personas) -> None:
    for role, message in ((Role.bank_officer, "--bank"), (Role.insurer, "--bank"),
                          (Role.department_feed, "--department"), (Role.farmer, "subject")):
        with pytest.raises(Invalid, match=message):
            users.add_user(session, None, username=f"x_{role.value}", role=role,
                           region_code=COUNTY)
    with pytest.raises(Invalid, match="not inside region"):
        users.add_user(session, None, username="farmer_far", role=Role.farmer,
                       region_code=VILLAGE_A, subject_id=people.far)
    with pytest.raises(Invalid, match="unknown role nobody; the roles are: county_admin, "):
        users.add_user(session, None, username="xx", role="nobody", region_code=COUNTY)
    with pytest.raises(Invalid, match="unknown region 330521999999"):
        users.add_user(session, None, username="xy", role="merchant", region_code="330521999999")


def test_changes_are_audited_without_passwords(session: Session, people: Personas) -> None:
    made = users.add_user(session, people["admin"], username="clerk", role="village_officer",
                          region_code=VILLAGE_A, password="稻田-晚霞-2026-kx")
    users.change_user(session, people["admin"], made.user.id, region_code=VILLAGE_C,
                      display_name="王会计")
    reset = users.reset_password(session, people["admin"], made.user.id)
    assert reset.code is not None and made.code is None
    events = list(session.scalars(sa.select(AuditEvent).where(
        AuditEvent.target == "user clerk").order_by(AuditEvent.id)))
    assert [e.action for e in events] == ["user.add", "user.change", "user.password_reset"]
    assert events[0].actor_id == people["admin"].id and events[0].detail["role"] == "village_officer"
    assert events[1].detail == {"region_code": [VILLAGE_A, VILLAGE_C],
                                "display_name": ["clerk", "王会计"]}
    text = repr([e.detail for e in events])
    assert "稻田" not in text and reset.code not in text


def test_disable_and_reset_end_sessions_and_tokens(session: Session, people: Personas) -> None:
    for action in ("disable", "reset"):
        user = users.add_user(session, None, username=f"u_{action}", role="merchant",
                              region_code=COUNTY).user
        start(session, user, client="127.0.0.1", agent="Firefox")
        issue_token(session, user, "script")
        if action == "disable":
            users.set_active(session, None, user.id, False)
        else:
            users.reset_password(session, None, user.id)
        open_rows = session.scalar(sa.select(sa.func.count()).select_from(UserSession).where(
            UserSession.user_id == user.id, UserSession.ended_at.is_(None)))
        live = session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(
            ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)))
        assert (open_rows, live) == (0, 0), action
        reason = session.scalar(sa.select(UserSession.end_reason).where(
            UserSession.user_id == user.id))
        assert reason == ("disabled" if action == "disable" else "password")


def test_a_password_reset_lifts_the_lock_out(session: Session, people: Personas) -> None:
    import datetime as dt

    from ctown.accounts.models import AccessLog
    from ctown.accounts.service import recent_failures

    window = dt.timedelta(minutes=15)
    session.add_all([AccessLog(username="village", event="login_failed") for _ in range(5)])
    session.flush()
    assert recent_failures(session, "village", window) == 5
    users.reset_password(session, people["admin"], people["village"].id)
    assert recent_failures(session, "village", window) == 0


def test_the_demo_builder_shows_the_administration_and_runs_twice(session: Session,
                                                                 people: Personas,
                                                                 tmp_path: Path) -> None:
    from ctown.accounts import demo
    from ctown.accounts.service import tokens_of
    from ctown.capabilities import DemoContext

    ctx = DemoContext.of(Settings(var_dir=tmp_path), tmp_path, people.users.values())
    for _ in range(2):
        demo.build(session, ctx)
    made = {u.username: u for u in users.list_users(session, None)}
    assert made[demo.CLERK].must_change_password and made[demo.CLERK].is_active
    assert not made[demo.FORMER].is_active
    assert [t.name for t in tokens_of(session, people["bank"].id)] == ["演示脚本 / demo script"]
