"""The mandate lifecycle (信用代理授权) on both databases: recorded at the service point, confirmed by
a one-time code (hashed, ten minutes, limited attempts, never shown) or a paper form, revoked by
the household or the officer, every step audited; the refusals; the rows 0015 migrated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_B, build_county
from tests.personas import build_personas

from ctown.access import rules
from ctown.access.scope import get_subject_for
from ctown.accounts.models import ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.crypto import FieldCipher
from ctown.db import make_engine, utcnow
from ctown.errors import Conflict, Forbidden, Invalid, NotFound
from ctown.migrate import alembic_config, upgrade
from ctown.notify import tasks
from ctown.notify.channels import MemoryBackend, Notifier
from ctown.notify.models import Notification
from ctown.privacy.models import AuditEvent
from ctown.proxy import service
from ctown.proxy.service import State
from ctown.registry.models import Subject


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return FieldCipher.load(tmp_path / "keys.json")


@pytest.fixture
def county(session: Session, cipher: FieldCipher) -> dict[str, User]:
    users = dict(build_county(session, cipher).users)
    users["proxy_b"] = create_user(session, username="proxy_b", role=Role.credit_proxy,
                                   region_code=VILLAGE_B, password=None)
    return users


def _home(users: dict[str, User]) -> int:
    home = users["farmer"].subject_id
    assert home is not None
    return home


def _record(session: Session, users: dict[str, User], scopes: tuple[str, ...] = ("query",),
            days: int = 30) -> ProxyMandate:
    return service.record(session, users["village"], household_id=_home(users),
                          proxy_id=users["proxy"].id, scopes=scopes,
                          until=rules.today() + dt.timedelta(days=days))


def _outbox(session: Session, mandate_id: int) -> list[Notification]:
    return list(session.scalars(sa.select(Notification).where(
        Notification.ref_kind == "proxy_mandate", Notification.ref_id == mandate_id)
        .order_by(Notification.id)))


def _audit(session: Session, mandate_id: int) -> list[tuple[str, dict[str, object]]]:
    return [(e.action, e.detail) for e in session.scalars(sa.select(AuditEvent).where(
        AuditEvent.target == f"mandate {mandate_id}").order_by(AuditEvent.id))]


def _reaches(session: Session, proxy: User, household: int) -> bool:
    try:
        get_subject_for(session, proxy, household)
    except NotFound:
        return False
    return True


# -- confirming by code -----------------------------------------------------------------------------
def test_a_code_confirms_and_is_never_kept_or_shown(session: Session, county: dict[str, User],
                                                   cipher: FieldCipher) -> None:
    users, home = county, _home(county)
    m = _record(session, users, ("query", "apply"))
    assert (service.state_of(m), m.recorded_by_id, service.scopes_of(m)) == (
        State.awaiting, users["village"].id, ["query", "apply"])
    assert not _reaches(session, users["proxy"], home)  # recorded is not in force
    before = utcnow()
    expires = service.send_code(session, users["village"], cipher, m.id)
    assert dt.timedelta(minutes=9) < expires - before <= dt.timedelta(minutes=10, seconds=1)
    [sms] = _outbox(session, m.id)
    head = session.scalar(sa.select(Subject).where(Subject.household_id == home,
                                                   Subject.relation == "户主"))
    assert head is not None and (sms.channel, sms.subject_id) == ("sms", head.id)
    code = sms.params["code"]
    assert len(code) == 6 and code.isdigit()
    # Only a keyed hash is kept; the audit trail never holds the code.
    assert m.code_hash is not None and code not in m.code_hash and len(m.code_hash) == 64
    assert all(code not in str(detail) for _a, detail in _audit(session, m.id))
    # Delivered: the farmer's phone gets the text, the outbox keeps no usable code.
    memory = MemoryBackend()
    tasks.deliver(session, Notifier({"sms": memory}))
    [(_id, _channel, text)] = memory.sent
    assert code in text and "有效期至" in text and users["proxy"].display_name in text
    session.refresh(sms)
    assert sms.params["code"] == "······"
    wrong = "000000" if code != "000000" else "111111"
    check = service.confirm_code(session, users["village"], cipher, m.id, wrong)
    assert (check.confirmed, check.attempts_left, m.code_failures) == (False, 4, 1)
    assert service.state_of(m) is State.awaiting
    check = service.confirm_code(session, users["village"], cipher, m.id, f" {code[:3]} {code[3:]}")
    assert check.confirmed
    assert (service.state_of(m), m.confirmation, m.code_hash) == (State.in_force, "sms", None)
    assert _reaches(session, users["proxy"], home)
    assert [a for a, _d in _audit(session, m.id)] == [
        "mandate.record", "mandate.code_sent", "mandate.code_failed", "mandate.confirm"]


def test_a_code_expires_after_ten_minutes(session: Session, county: dict[str, User],
                                          cipher: FieldCipher) -> None:
    m = _record(session, county)
    service.send_code(session, county["village"], cipher, m.id)
    code = _outbox(session, m.id)[0].params["code"]
    m.code_expires_at = utcnow() - dt.timedelta(seconds=1)
    check = service.confirm_code(session, county["village"], cipher, m.id, code)
    assert not check.confirmed and check.message and "过期" in check.message.msgid
    assert service.state_of(m) is State.awaiting
    # A new code replaces it; the old one no longer works.
    service.send_code(session, county["village"], cipher, m.id)
    new = _outbox(session, m.id)[1].params["code"]
    if new != code:
        assert not service.confirm_code(session, county["village"], cipher, m.id, code).confirmed
    assert service.confirm_code(session, county["village"], cipher, m.id, new).confirmed


def test_attempts_and_sends_are_limited(session: Session, county: dict[str, User],
                                        cipher: FieldCipher) -> None:
    m = _record(session, county)
    service.send_code(session, county["village"], cipher, m.id)
    code = _outbox(session, m.id)[0].params["code"]
    wrong = "000000" if code != "000000" else "111111"
    lefts = [service.confirm_code(session, county["village"], cipher, m.id, wrong).attempts_left
             for _ in range(service.MAX_CODE_FAILURES)]
    assert lefts == [4, 3, 2, 1, 0]
    # Locked: even the right code is refused, and no new code is sent; the paper form still is.
    assert not service.confirm_code(session, county["village"], cipher, m.id, code).confirmed
    with pytest.raises((Conflict, Invalid)):
        service.send_code(session, county["village"], cipher, m.id)
    assert service.confirm_paper(session, county["village"], m.id, "WK-2026-017").confirmation \
        == "paper"
    other = _record(session, county, ("apply",))
    for _ in range(service.MAX_CODE_SENDS):
        service.send_code(session, county["village"], cipher, other.id)
    with pytest.raises(Conflict):
        service.send_code(session, county["village"], cipher, other.id)
    with pytest.raises(Invalid):  # five digits: not an attempt, not counted
        service.confirm_code(session, county["village"], cipher, other.id, "12345")
    assert other.code_failures == 0


def test_no_phone_on_file_means_the_paper_form(session: Session, county: dict[str, User],
                                               cipher: FieldCipher) -> None:
    m = _record(session, county)
    session.execute(sa.update(Subject).where(Subject.household_id == _home(county))
                    .values(phone_cipher=None, phone_index=None))
    with pytest.raises(Invalid):
        service.send_code(session, county["village"], cipher, m.id)
    with pytest.raises(Invalid):
        service.confirm_code(session, county["village"], cipher, m.id, "123456")  # none sent
    assert _outbox(session, m.id) == []


# -- confirming on paper ----------------------------------------------------------------------------
def test_the_paper_form(session: Session, county: dict[str, User]) -> None:
    m = _record(session, county)
    for blank in ("", "   ", "x" * 41):
        with pytest.raises(Invalid):
            service.confirm_paper(session, county["village"], m.id, blank)
    service.confirm_paper(session, county["village"], m.id, " WK-2026-001 ")
    assert (m.paper_ref, service.state_of(m)) == ("WK-2026-001", State.in_force)
    with pytest.raises(Conflict):  # confirmed already
        service.confirm_paper(session, county["village"], m.id, "WK-2026-002")
    second = _record(session, county, ("consent",))
    with pytest.raises(Conflict):  # one form, one mandate
        service.confirm_paper(session, county["village"], second.id, "WK-2026-001")
    assert ("mandate.confirm", "paper", "WK-2026-001") in [
        (a, d.get("method"), d.get("paper_ref")) for a, d in _audit(session, m.id)]


# -- recording: what is refused --------------------------------------------------------------------
def test_end_dates_from_today_to_one_year(session: Session, county: dict[str, User]) -> None:
    today = rules.today()
    for day in (today - dt.timedelta(days=1), service.latest_end(today) + dt.timedelta(days=1)):
        with pytest.raises(Invalid):
            service.record(session, county["village"], household_id=_home(county),
                           proxy_id=county["proxy"].id, scopes=["query"], until=day)
    last = service.record(session, county["village"], household_id=_home(county),
                          proxy_id=county["proxy"].id, scopes=["query"],
                          until=service.latest_end(today))
    short = service.record(session, county["village"], household_id=_home(county),
                           proxy_id=county["proxy"].id, scopes=["apply"], until=today)
    # In force through the last day, Beijing time; not a minute after.
    assert service.last_day(last) == service.latest_end(today)
    assert short.valid_until == rules.end_of_day(today)
    assert service.latest_end(dt.date(2028, 2, 29)) == dt.date(2029, 2, 28)


def test_what_cannot_be_recorded(session: Session, county: dict[str, User]) -> None:
    home, until = _home(county), rules.today() + dt.timedelta(days=10)

    def record(who: str = "village", household: int = home, proxy: str = "proxy",
               scopes: tuple[str, ...] = ("query",)) -> object:
        return service.record(session, county[who], household_id=household,
                              proxy_id=county[proxy].id, scopes=scopes, until=until)

    for scopes in ((), ("query", "spend")):
        with pytest.raises(Invalid):
            record(scopes=scopes)
    for proxy in ("bank", "farmer", "proxy_b"):  # not a proxy; a proxy of another village
        with pytest.raises(Invalid):
            record(proxy=proxy)
    with pytest.raises(NotFound):  # another village's officer does not reach the household
        record(who="village2")
    for who in ("farmer", "proxy", "bank"):
        with pytest.raises(Forbidden):
            record(who=who)
    head = session.scalar(sa.select(Subject.id).where(Subject.household_id == home))
    assert head is not None
    with pytest.raises(Invalid):  # a person, not a household
        record(household=head)
    first = record(scopes=("query", "apply"))
    with pytest.raises(Conflict):  # the same proxy, household and scope, awaiting
        record(scopes=("apply",))
    record(scopes=("consent",))  # another scope may be asked for separately
    # The township and county officers of the place record as well.
    service.revoke(session, county["village"], first.id, "重新登记")
    assert record(who="township").recorded_by_id == county["township"].id
    assert record(who="admin", scopes=("apply",)).recorded_by_id == county["admin"].id


def test_a_deactivated_proxy_cannot_be_chosen(session: Session, county: dict[str, User]) -> None:
    county["proxy"].is_active = False
    with pytest.raises(Invalid):
        _record(session, county)
    assert county["proxy"].id not in {c.id for c in
                                      service.proxies_to_choose(session, county["village"])}


def test_what_the_officer_chooses_from(session: Session, county: dict[str, User]) -> None:
    village, township = county["village"], county["township"]
    found = service.households_to_record(session, village, "张")
    homes = set(session.scalars(sa.select(Subject.id).where(
        Subject.kind == "household", Subject.region_code == VILLAGE_A)))
    assert {c.id for c in found} == homes  # only the officer's village
    assert {c.id for c in service.households_to_record(session, township, "张")} > homes
    assert service.households_to_record(session, village, "") == []
    assert [c.id for c in service.proxies_to_choose(session, village)] == [county["proxy"].id]
    assert {c.id for c in service.proxies_to_choose(session, township)} == {
        county["proxy"].id, county["proxy_b"].id}
    with pytest.raises(Forbidden):
        service.proxies_to_choose(session, county["farmer"])


# -- revoking ----------------------------------------------------------------------------------------
def test_revoking(session: Session, county: dict[str, User]) -> None:
    m = _record(session, county, ("query", "apply"))
    service.confirm_paper(session, county["village"], m.id, "WK-1")
    with pytest.raises(Forbidden):
        service.revoke(session, county["proxy"], m.id)
    with pytest.raises(NotFound):
        service.revoke(session, county["village2"], m.id, "不是本村")
    with pytest.raises(Invalid):  # at the service point a reason is needed
        service.revoke(session, county["village"], m.id, "  ")
    service.revoke(session, county["farmer"], m.id)  # the household itself needs none
    assert (service.state_of(m), m.revoked_by_id, m.revoke_reason) == (
        State.revoked, county["farmer"].id, None)
    assert not _reaches(session, county["proxy"], _home(county))
    with pytest.raises(Conflict):
        service.revoke(session, county["farmer"], m.id)
    [(_action, detail)] = [x for x in _audit(session, m.id) if x[0] == "mandate.revoke"]
    assert detail["by_household"] is True
    waiting = _record(session, county, ("consent",))  # an awaiting one is withdrawn the same way
    service.revoke(session, county["village"], waiting.id, "农户改变主意")
    assert waiting.revoke_reason == "农户改变主意"
    ended = _record(session, county, ("apply",))
    ended.valid_until = utcnow() - dt.timedelta(seconds=1)
    assert service.state_of(ended) is State.expired
    with pytest.raises(Conflict):
        service.revoke(session, county["village"], ended.id, "已过期")


def test_lists_and_states(session: Session, county: dict[str, User]) -> None:
    a = _record(session, county, ("query",))
    b = _record(session, county, ("apply",))
    service.confirm_paper(session, county["village"], b.id, "WK-9")
    c = _record(session, county, ("consent",))
    service.revoke(session, county["farmer"], c.id)
    states = {r.mandate.id: r.state for r in service.mandates_for(session, county["village"])}
    assert states == {a.id: State.awaiting, b.id: State.in_force, c.id: State.revoked}
    for state, ids in ((State.awaiting, [a.id]), (State.in_force, [b.id]),
                       (State.revoked, [c.id]), (State.expired, [])):
        assert [r.mandate.id for r in service.mandates_for(
            session, county["village"], state=state)] == ids
    assert service.mandates_for(session, county["village2"]) == []
    assert [r.mandate.id for r in service.own_mandates(session, county["farmer"])] == [
        c.id, b.id, a.id]
    held = {r.mandate.id: r.household_name for r in service.held_mandates(session, county["proxy"])}
    assert held == {c.id: "张*", b.id: "张0", a.id: "张*"}  # named only where in force
    assert service.held_mandates(session, county["proxy_b"]) == []


def test_a_persona_mandate_in_force_is_listed(session: Session, cipher: FieldCipher) -> None:
    people = build_personas(session, build_county(session, cipher))
    rows = {r.proxy_name: r.state for r in service.own_mandates(session, people["farmer"])}
    assert rows == {"proxy": State.in_force, "proxy_expired": State.expired,
                    "proxy_revoked": State.revoked, "proxy_unconfirmed": State.awaiting}


# -- migration 0015: the mandates from before keep working -------------------------------------------
def test_mandates_from_before_0015_stay_in_force(db_factory) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_factory.url())
    upgrade(engine, "0014_departments")
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO regions (code, name, level) VALUES "
                             "('330521100201', '五四村', 'village')"))
        conn.execute(sa.text(
            "INSERT INTO subjects (id, kind, name, region_code, created_at, updated_at) VALUES "
            "(1, 'household', '张三', '330521100201', :now, :now)"), {"now": now})
        conn.execute(sa.text(
            "INSERT INTO users (id, username, display_name, role, region_code, locale, is_active, "
            "created_at) VALUES (1, 'p', 'p', 'credit_proxy', '330521100201', 'zh_Hans', "
            ":t, :now)"), {"now": now, "t": True})
        for i, (until, revoked) in enumerate([(now + dt.timedelta(days=9), None),
                                              (now + dt.timedelta(days=9), now)], start=1):
            conn.execute(sa.text(
                "INSERT INTO proxy_mandates (id, proxy_id, subject_id, granted_at, valid_until, "
                "revoked_at) VALUES (:i, 1, 1, :g, :u, :r)"),
                {"i": i, "g": now - dt.timedelta(days=3), "u": until, "r": revoked})
    upgrade(engine)
    with Session(engine) as session:
        rows = session.scalars(sa.select(ProxyMandate).order_by(ProxyMandate.id)).all()
        assert [(m.scope_query, m.scope_apply, m.scope_consent, m.confirmation,
                 m.confirmed_at == m.granted_at, m.code_sends, m.code_failures) for m in rows] == [
            (True, True, True, "legacy", True, 0, 0)] * 2
        assert [service.state_of(m) for m in rows] == [State.in_force, State.revoked]
        assert list(session.scalars(rules.mandated_subjects(1, {"consent"}))) == [1]
    # Down again: nothing recorded but unconfirmed may come back in force under the old rules.
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO proxy_mandates (id, proxy_id, subject_id, granted_at, valid_until, "
            "scope_query, scope_apply, scope_consent, code_sends, code_failures) "
            "VALUES (3, 1, 1, :g, :u, :t, :t, :t, 0, 0)"),
            {"g": now, "u": now + dt.timedelta(days=9), "t": True})
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0014_departments")
    with engine.connect() as conn:
        revoked = conn.execute(sa.text(
            "SELECT id FROM proxy_mandates WHERE revoked_at IS NOT NULL ORDER BY id")).scalars()
        assert list(revoked) == [2, 3]
    engine.dispose()


# -- query counts: the lists do not grow with their length --------------------------------------------
def _statements(session: Session, action: Any) -> int:
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = session.get_bind()
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        action()
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def test_the_lists_cost_the_same_whatever_their_length(session: Session,
                                                       county: dict[str, User],
                                                       cipher: FieldCipher) -> None:
    from ctown.proxy import acts
    from ctown.registry.queries import subject_detail

    farmer, proxy, home = county["farmer"], county["proxy"], _home(county)
    m = _record(session, county, ("query", "apply", "consent"))
    service.confirm_paper(session, county["village"], m.id, "WK-Q")
    subject_detail(session, proxy, cipher, home)
    session.flush()
    session.expire_all()
    few = _statements(session, lambda: acts.acts_on_household(session, farmer))
    listed = _statements(session, lambda: service.mandates_for(session, county["village"]))
    for _ in range(8):
        subject_detail(session, proxy, cipher, home)
    for name in ("proxy_c", "proxy_d"):  # more proxies, more mandates: one revoked
        other = create_user(session, username=name, role=Role.credit_proxy,
                            region_code=VILLAGE_A, password=None)
        made = service.record(session, county["village"], household_id=home, proxy_id=other.id,
                              scopes=["query"], until=rules.today())
        service.revoke(session, farmer, made.id)
    session.flush()
    session.expire_all()
    assert len(acts.acts_on_household(session, farmer)) >= 12
    session.expire_all()
    assert _statements(session, lambda: acts.acts_on_household(session, farmer)) == few
    assert _statements(session, lambda: service.mandates_for(session, county["village"])) == listed
    assert few <= 8 and listed <= 2
