"""The register of department feeds and their push keys (#11 item 3), on both databases: the
service (register, issue, rotate with a grace period, revoke, disable), the push API that accepts
a department's key only, what a department's clerk sees, the CLI, the county's pages and the demo.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import COUNTY, REGIONS, build_county
from tests.personas import ALL, attempt, build_personas, expect

from ctown.accounts.models import AccessLog, User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user, issue_token
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.errors import Conflict, Invalid, NotFound
from ctown.ingest import feeds
from ctown.ingest.feeds import KeyRefused
from ctown.ingest.models import Department, DepartmentKey, QuarantinedRow
from ctown.ingest.service import list_batches, push_for
from ctown.privacy.models import AuditEvent
from ctown.registry.tasks import load_regions

TAX_ROW = {"纳税人识别号": "not-a-code", "纳税信用级别": "A"}  # quarantined: an invalid code
HOUR = dt.timedelta(hours=1)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _denied(session: Session, user_id: int | None) -> list[str]:
    return list(session.scalars(sa.select(AccessLog.detail).where(
        AccessLog.event == "denied", AccessLog.user_id.is_(None) if user_id is None
        else AccessLog.user_id == user_id).order_by(AccessLog.id)))


def _audits(session: Session, action: str) -> list[AuditEvent]:
    return list(session.scalars(sa.select(AuditEvent).where(AuditEvent.action == action)
                                .order_by(AuditEvent.id)))


@pytest.fixture
def regions(session: Session) -> None:
    load_regions(session, REGIONS, source="test")


# -- the register --------------------------------------------------------------------------------

@pytest.mark.usefixtures("regions")
def test_add_makes_a_machine_account_that_cannot_sign_in(session: Session) -> None:
    made = feeds.add_department(session, None, code="tax", name="县税务局", contact="王科长 0572-1")
    account = session.get_one(User, made.user_id)
    assert (account.username, account.role, account.department_code, account.region_code) == (
        "dept_tax", "department_feed", "tax", COUNTY)
    assert account.password_hash is None  # no password: no person signs in as it
    assert (made.mapping, made.contact, made.is_active) == ("tax", "王科长 0572-1", True)
    event = _audits(session, "department.add")[0]
    assert event.target == "department tax" and event.detail["mapping"] == "tax"


@pytest.mark.usefixtures("regions")
def test_add_refuses_duplicates_unknown_mappings_and_bad_codes(session: Session) -> None:
    feeds.add_department(session, None, code="tax", name="县税务局")
    with pytest.raises(Conflict) as dup:
        feeds.add_department(session, None, code="tax", name="again")
    assert dup.value.message.both() == {"zh": "部门 tax 已登记",
                                        "en": "department tax is already registered"}
    with pytest.raises(Invalid) as unknown:
        feeds.add_department(session, None, code="forest", name="林业局")  # no forest.yaml
    assert "forest" in unknown.value.message.both()["en"]
    assert "no mapping file" in unknown.value.message.both()["en"]
    with pytest.raises(Invalid):
        feeds.add_department(session, None, code="tax2", name="x", mapping="nope")
    for bad in ("Tax", "t", "1tax", "tax-east", "a" * 17):
        with pytest.raises(Invalid):
            feeds.add_department(session, None, code=bad, name="x", mapping="tax")
    with pytest.raises(Invalid):
        feeds.add_department(session, None, code="tax3", name="  ", mapping="tax")
    assert session.scalar(sa.select(sa.func.count()).select_from(Department)) == 1


def test_add_needs_the_regions(session: Session) -> None:
    with pytest.raises(Invalid):
        feeds.add_department(session, None, code="tax", name="县税务局")


# -- keys ------------------------------------------------------------------------------------------

@pytest.fixture
def tax(session: Session, regions: None) -> Department:
    return feeds.add_department(session, None, code="tax", name="县税务局")


def test_a_key_is_shown_once_and_stored_as_its_digest(session: Session, tax: Department) -> None:
    issued = feeds.issue_key(session, None, "tax")
    assert issued.key.startswith("ctd_") and len(issued.key) == 4 + 43
    row = session.scalars(sa.select(DepartmentKey)).one()
    assert row.key_hash == _sha256(issued.key) and row.prefix == issued.key[:12]
    stored = json.dumps([[getattr(row, c.name) for c in DepartmentKey.__table__.columns]],
                        default=str)
    assert issued.key not in stored
    event = _audits(session, "department.key_issue")[0]
    assert event.detail == {"prefix": issued.key[:12]} and issued.key not in json.dumps(
        event.detail)
    account = feeds.authenticate_key(session, issued.key, "tax")
    assert account.id == tax.user_id and row.last_used_at is not None
    assert feeds.list_keys(session, None, "tax") == [{
        "prefix": issued.key[:12], "state": "active", "issued_at": row.issued_at,
        "last_used_at": row.last_used_at, "expires_at": None, "revoked_at": None}]


def test_unknown_keys_are_refused_and_logged(session: Session, tax: Department) -> None:
    with pytest.raises(KeyRefused) as refused:
        feeds.authenticate_key(session, "ctd_" + "x" * 43, "tax")
    assert refused.value.status_code == 401
    assert _denied(session, None) == ["feed push tax: unknown key"]


def test_rotation_keeps_the_old_key_for_the_grace_period(session: Session, tax: Department
                                                         ) -> None:
    old = feeds.issue_key(session, None, "tax")
    new = feeds.rotate_key(session, None, "tax", grace_hours=24)
    assert new.key != old.key and new.previous_valid_until is not None
    now = dt.datetime.now(dt.UTC)
    for key in (old.key, new.key):
        assert feeds.authenticate_key(session, key, "tax", now=now + HOUR).id == tax.user_id
    with pytest.raises(KeyRefused) as late:  # after the grace period: refused
        feeds.authenticate_key(session, old.key, "tax", now=now + 25 * HOUR)
    assert "expired" in late.value.message.both()["en"]
    assert feeds.authenticate_key(session, new.key, "tax", now=now + 25 * HOUR).id == tax.user_id
    states = {k["prefix"]: k["state"] for k in feeds.list_keys(session, None, "tax")}
    assert states == {new.prefix: "active", old.prefix: "grace"}
    event = _audits(session, "department.key_rotate")[0]
    assert event.detail == {"prefix": new.prefix, "retiring": [old.prefix], "grace_hours": 24}
    # A second rotation does not lengthen the grace of a key already rotated out.
    third = feeds.rotate_key(session, None, "tax", grace_hours=48)
    ends = {k.prefix: k.expires_at for k in session.scalars(sa.select(DepartmentKey))}
    old_end, new_end = ends[old.prefix], ends[new.prefix]
    assert old_end is not None and new_end is not None and old_end < new_end
    assert ends[third.prefix] is None


def test_rotation_without_grace_and_its_limits(session: Session, tax: Department) -> None:
    old = feeds.issue_key(session, None, "tax")
    feeds.rotate_key(session, None, "tax", grace_hours=0)
    with pytest.raises(KeyRefused):
        feeds.authenticate_key(session, old.key, "tax")
    for hours in (-1, 24 * 30 + 1):
        with pytest.raises(Invalid):
            feeds.rotate_key(session, None, "tax", grace_hours=hours)


def test_revoke_refuses_every_key_at_once(session: Session, tax: Department) -> None:
    first, second = feeds.issue_key(session, None, "tax"), feeds.issue_key(session, None, "tax")
    assert feeds.revoke_keys(session, None, "tax") == 2
    for key in (first.key, second.key):
        with pytest.raises(KeyRefused) as refused:
            feeds.authenticate_key(session, key, "tax")
        assert "revoked" in refused.value.message.both()["en"]
    assert _denied(session, tax.user_id) == [f"feed push tax: key {first.prefix} revoked",
                                             f"feed push tax: key {second.prefix} revoked"]
    assert {k["state"] for k in feeds.list_keys(session, None, "tax")} == {"revoked"}
    assert _audits(session, "department.key_revoke")[0].detail == {
        "prefixes": [first.prefix, second.prefix]}


def test_a_disabled_department_or_account_pushes_nothing(session: Session, tax: Department
                                                         ) -> None:
    issued = feeds.issue_key(session, None, "tax")
    feeds.set_active(session, None, "tax", False)
    with pytest.raises(KeyRefused):
        feeds.authenticate_key(session, issued.key, "tax")
    with pytest.raises(Invalid):  # no new keys while disabled
        feeds.issue_key(session, None, "tax")
    feeds.set_active(session, None, "tax", True)
    assert feeds.authenticate_key(session, issued.key, "tax").id == tax.user_id
    session.get_one(User, tax.user_id).is_active = False  # `ctown users disable dept_tax`
    with pytest.raises(KeyRefused):
        feeds.authenticate_key(session, issued.key, "tax")
    assert [e.action for e in session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action.like("department.%")).order_by(AuditEvent.id))] == [
        "department.add", "department.key_issue", "department.disable", "department.enable"]


def test_unknown_departments_are_not_found(session: Session, tax: Department) -> None:
    for act in (lambda: feeds.issue_key(session, None, "bank"),
                lambda: feeds.rotate_key(session, None, "bank"),
                lambda: feeds.revoke_keys(session, None, "bank"),
                lambda: feeds.list_keys(session, None, "bank")):
        with pytest.raises(NotFound) as missing:
            act()
        assert missing.value.message.both()["en"] == "no department bank is registered"


def test_list_shows_keys_in_force_and_the_last_push(session: Session, tax: Department,
                                                    tmp_path: Path) -> None:
    feeds.add_department(session, None, code="bank", name="县农商银行")
    feeds.issue_key(session, None, "tax")
    feeds.rotate_key(session, None, "tax", grace_hours=1)
    machine = session.get_one(User, tax.user_id)
    batch, _resent = push_for(session, FieldCipher.load(tmp_path / "k.json"), machine,
                              department="tax", batch_id="b1", rows=[TAX_ROW])
    rows = {r["code"]: r for r in feeds.list_departments(session, None)}
    assert (rows["tax"]["active_keys"], rows["tax"]["last_push_at"]) == (2, batch.created_at)
    assert (rows["bank"]["active_keys"], rows["bank"]["last_push_at"]) == (0, None)
    assert rows["tax"]["account"] == "dept_tax" and rows["tax"]["mapping"] == "tax"


@pytest.mark.usefixtures("regions")
def test_the_list_takes_three_queries_however_many_departments(session: Session) -> None:
    def statements() -> int:
        seen: list[str] = []
        bind = session.get_bind()
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        sa.event.listen(bind, "before_cursor_execute", listener)
        try:
            feeds.list_departments(session, None)
        finally:
            sa.event.remove(bind, "before_cursor_execute", listener)
        return len(seen)

    feeds.add_department(session, None, code="tax", name="县税务局")
    feeds.issue_key(session, None, "tax")
    one = statements()
    for code in ("bank", "court", "civil"):
        feeds.add_department(session, None, code=code, name=code)
        feeds.issue_key(session, None, code)
    assert one == statements() == 3


@pytest.mark.usefixtures("regions")
def test_a_department_may_read_its_rows_with_another_mapping(session: Session,
                                                             tmp_path: Path) -> None:
    """``tax_east`` uses the tax bureau's mapping; its batch, values and quarantined rows carry
    its own code, so its clerks reach them and the tax bureau's do not."""
    east = feeds.add_department(session, None, code="tax_east", name="东区税务所", mapping="tax")
    cipher = FieldCipher.load(tmp_path / "k.json")
    batch, _r = push_for(session, cipher, session.get_one(User, east.user_id),
                         department="tax_east", batch_id="e1", rows=[TAX_ROW])
    row = session.scalars(sa.select(QuarantinedRow).where(QuarantinedRow.batch_id == batch.id)
                          ).one()
    assert (batch.department, row.department, batch.quarantined) == ("tax_east", "tax_east", 1)
    clerk = create_user(session, username="east_clerk", password=None, role=Role.department_feed,
                        region_code=COUNTY, department_code="tax_east")
    other = create_user(session, username="tax_clerk", password=None, role=Role.department_feed,
                        region_code=COUNTY, department_code="tax")
    assert [b.id for b in list_batches(session, clerk)] == [batch.id]
    assert list_batches(session, other) == []
    from ctown.ingest import quarantine

    assert quarantine.replay(session, cipher, clerk, ids=[row.id])["quarantined"] == 1


# -- who may use the register (personas) ---------------------------------------------------------

@pytest.fixture
def people(session: Session, tmp_path: Path) -> Any:
    people = build_personas(session, build_county(session, FieldCipher.load(tmp_path / "k.json")))
    feeds.add_department(session, None, code="tax", name="县税务局")
    return people


@pytest.mark.parametrize("name", ALL)
def test_only_the_county_reaches_the_register(session: Session, people: Any, name: str) -> None:
    actor = people[name]
    actions = {
        "list": lambda: feeds.list_departments(session, actor),
        "get": lambda: feeds.get_department(session, actor, "tax"),
        "add": lambda: feeds.add_department(session, actor, code="bank", name="x"),
        "issue": lambda: feeds.issue_key(session, actor, "tax"),
        "rotate": lambda: feeds.rotate_key(session, actor, "tax"),
        "revoke": lambda: feeds.revoke_keys(session, actor, "tax"),
        "keys": lambda: feeds.list_keys(session, actor, "tax"),
        "disable": lambda: feeds.set_active(session, actor, "tax", False),
    }
    got = {what: attempt(session, act) for what, act in actions.items()}
    wanted = expect({"admin"}, forbidden=set(ALL))[name]
    assert got == dict.fromkeys(actions, wanted)


@pytest.mark.parametrize("name", ALL)
def test_no_person_pushes(session: Session, people: Any, name: str, tmp_path: Path) -> None:
    """Every persona — the tax clerk ``feed`` (department_feed of tax) too — is refused; only
    the department's machine account pushes."""
    cipher = FieldCipher.load(tmp_path / "k2.json")
    assert attempt(session, lambda: push_for(session, cipher, people[name], department="tax",
                                             batch_id="p", rows=[TAX_ROW])) == "403"


# -- the push API ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(db_factory: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The test county, the tax bureau and the bank registered with a key each, persons with
    API tokens: the county admin, the tax bureau's clerk, the bank's clerk."""
    from webutil import make_app_client

    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("departments")
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        county = build_county(s, FieldCipher.load(var / "keys.json"), passwords=True)
        county.users["feed"].department_code = "tax"
        for code, name in (("tax", "县税务局"), ("bank", "县农商银行")):
            feeds.add_department(s, None, code=code, name=name)
        keys = {code: feeds.issue_key(s, None, code).key for code in ("tax", "bank")}
        bank_clerk = create_user(s, username="bank_clerk", password=None,
                                 role=Role.department_feed, region_code=COUNTY,
                                 department_code="bank")
        tokens = {name: issue_token(s, user, "test") for name, user in
                  (("admin", county.users["admin"]), ("feed", county.users["feed"]),
                   ("village", county.users["village"]), ("bank_clerk", bank_clerk))}
        ids = {u.username: u.id for u in s.scalars(sa.select(User))}
        household = county.users["farmer"].subject_id
    engine.dispose()
    with make_app_client(url, var) as client:
        yield {"client": client, "keys": keys, "tokens": tokens, "url": url, "ids": ids,
               "household": household}
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


def _push(client: TestClient, dept: str, batch_id: str, credential: str | None = None,
          headers: dict[str, str] | None = None) -> Any:
    auth = {"Authorization": f"Bearer {credential}"} if credential else {}
    return client.post(f"/api/v1/feeds/{dept}/batches", json={"batch_id": batch_id,
                                                               "rows": [TAX_ROW]},
                       headers={**auth, **(headers or {})})


def _query(url: str, sql: str, **params: Any) -> list[Any]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = list(conn.execute(sa.text(sql), params).all())
    engine.dispose()
    return rows


def test_the_department_pushes_with_its_key(site: dict[str, Any]) -> None:
    """No CSRF token: a key is not a cookie. The batch is recorded under the machine account."""
    answer = _push(site["client"], "tax", "k1", site["keys"]["tax"])
    assert answer.status_code == 200, answer.text
    assert (answer.json()["department"], answer.json()["quarantined"]) == ("tax", 1)
    [(actor, channel)] = _query(site["url"], "SELECT actor_id, channel FROM ingest_batches "
                                "WHERE external_id = 'k1'")
    assert (actor, channel) == (site["ids"]["dept_tax"], "api")
    [(used,)] = _query(site["url"], "SELECT count(*) FROM ingest_department_keys "
                       "WHERE last_used_at IS NOT NULL AND prefix = :p",
                       p=site["keys"]["tax"][:12])
    assert used == 1


KEY_NEEDED = {"zh": "报送需要部门密钥：个人的登录会话或接口令牌不能报送数据",
              "en": "pushing needs the department's key: a person's session or API token "
                    "cannot push data"}


@pytest.mark.parametrize("who", ["admin", "feed", "village", "bank_clerk"])
def test_a_persons_token_cannot_push(site: dict[str, Any], who: str) -> None:
    """Any role's API token — the tax bureau's own clerk's too — is refused, and logged."""
    answer = _push(site["client"], "tax", f"t-{who}", site["tokens"][who])
    assert answer.status_code == 403 and answer.json()["detail"] == KEY_NEEDED
    logged = _query(site["url"], "SELECT detail FROM access_log WHERE event = 'denied' "
                    "AND user_id = :u", u=site["ids"][who])
    assert ("feed push tax: an API token, not the department's key",) in logged


def test_a_persons_session_cannot_push(site: dict[str, Any]) -> None:
    from webutil import csrf_from, login

    client = site["client"]
    login(client, "feed", "pw-feed-123")
    try:
        csrf = csrf_from(client.get("/ingest/batches").text)
        answer = _push(client, "tax", "s1", headers={"X-CSRF-Token": csrf})
    finally:
        client.cookies.clear()
    assert answer.status_code == 403 and answer.json()["detail"] == KEY_NEEDED
    logged = _query(site["url"], "SELECT detail FROM access_log WHERE event = 'denied' "
                    "AND user_id = :u", u=site["ids"]["feed"])
    assert ("feed push tax: a session, not the department's key",) in logged


def test_anonymous_and_bad_credentials_are_401(site: dict[str, Any]) -> None:
    client = site["client"]
    anonymous = _push(client, "tax", "a1")
    assert anonymous.status_code == 401 and anonymous.json()["detail"] == KEY_NEEDED
    assert _push(client, "tax", "a2", "ctk_no_such_token").status_code == 401
    unknown = _push(client, "tax", "a3", "ctd_no_such_key")
    assert unknown.status_code == 401
    assert unknown.json()["detail"]["en"] == "invalid department key"
    assert _query(site["url"], "SELECT count(*) FROM ingest_batches WHERE external_id "
                  "IN ('a1', 'a2', 'a3')") == [(0,)]


def test_a_key_pushes_for_its_own_department_only(site: dict[str, Any]) -> None:
    answer = _push(site["client"], "tax", "x1", site["keys"]["bank"])
    assert answer.status_code == 403 and "本部门（bank）" in answer.json()["detail"]["zh"]
    logged = _query(site["url"], "SELECT detail FROM access_log WHERE event = 'denied' "
                    "AND user_id = :u", u=site["ids"]["dept_bank"])
    assert ("feed push tax",) in logged


def test_rotated_out_and_revoked_keys_are_401(site: dict[str, Any]) -> None:
    """Rotated with a grace period: both keys push; without one, or revoked: 401."""
    engine = make_engine(site["url"])
    factory = session_factory(engine)
    try:
        with factory.begin() as s:
            feeds.add_department(s, None, code="court", name="县法院", mapping="court")
            first = feeds.issue_key(s, None, "court").key
            second = feeds.rotate_key(s, None, "court", grace_hours=24).key
        client = site["client"]
        rows: list[Any] = []

        def push(key: str, batch: str) -> int:
            return int(client.post("/api/v1/feeds/court/batches", json={
                "batch_id": batch, "rows": rows}, headers={
                "Authorization": f"Bearer {key}"}).status_code)

        assert (push(first, "c1"), push(second, "c2")) == (200, 200)
        with factory.begin() as s:
            third = feeds.rotate_key(s, None, "court", grace_hours=0).key
        assert (push(first, "c3"), push(second, "c4"), push(third, "c5")) == (401, 401, 200)
        with factory.begin() as s:
            feeds.revoke_keys(s, None, "court")
        revoked = client.post("/api/v1/feeds/court/batches", json={"batch_id": "c6", "rows": []},
                              headers={"Authorization": f"Bearer {third}"})
        assert revoked.status_code == 401
        assert revoked.json()["detail"]["en"] == "the department key was revoked"
    finally:
        engine.dispose()


# -- what a department's clerk sees ----------------------------------------------------------------

def test_the_clerk_sees_its_own_batches_and_quarantine_only(site: dict[str, Any]) -> None:
    """The tax bureau's clerk (role department_feed, department tax): its batches and its
    quarantined rows; another department's quarantined row, the register, households and credit
    files are not its (404 / 403)."""
    client = site["client"]
    assert _push(client, "tax", "v1", site["keys"]["tax"]).status_code == 200
    bank_rows = [{"客户证件号码": "123", "贷款余额（元）": "5"}]
    bank = client.post("/api/v1/feeds/bank/batches", json={"batch_id": "v2", "rows": bank_rows},
                       headers={"Authorization": f"Bearer {site['keys']['bank']}"})
    assert bank.status_code == 200 and bank.json()["quarantined"] == 1
    [(bank_row,)] = _query(site["url"], "SELECT q.id FROM quarantined_rows AS q JOIN "
                           "ingest_batches AS b ON b.id = q.batch_id WHERE b.external_id = 'v2'")
    [(tax_row,)] = _query(site["url"], "SELECT q.id FROM quarantined_rows AS q JOIN "
                          "ingest_batches AS b ON b.id = q.batch_id WHERE b.external_id = 'v1'")
    headers = {"Authorization": f"Bearer {site['tokens']['feed']}"}

    def status(path: str) -> int:
        return int(client.get(path, headers=headers).status_code)

    batches = client.get("/ingest/batches", headers=headers).text
    assert "api:v1" in batches and "api:v2" not in batches
    assert status(f"/ingest/quarantine/{tax_row}") == 200
    assert status(f"/ingest/quarantine/{bank_row}") == 404
    assert status("/ingest/quarantine?department=bank") == 200
    assert f"/ingest/quarantine/{bank_row}" not in client.get(
        "/ingest/quarantine?department=bank", headers=headers).text
    hh = site["household"]
    assert status(f"/api/v1/subjects/{hh}/credit-file") in (403, 404)
    assert status(f"/subjects/{hh}/credit-file") in (403, 404)
    assert status(f"/api/v1/subjects/{hh}") in (403, 404)
    assert status("/admin/departments") == 403
    assert status("/admin/departments/tax") == 403


# -- the county's pages ------------------------------------------------------------------------------

def test_the_county_registers_and_keys_a_department_on_its_pages(site: dict[str, Any]) -> None:
    from webutil import csrf_from, login

    client = site["client"]
    login(client, "admin", "pw-admin-123")
    try:
        listing = client.get("/admin/departments")
        assert listing.status_code == 200 and 'href="/admin/departments"' in listing.text
        assert "县税务局" in listing.text
        csrf = csrf_from(listing.text)
        assert client.post("/admin/departments", data={
            "code": "civil", "name": "县民政局", "contact": "李"}).status_code == 403  # no CSRF
        added = client.post("/admin/departments", data={
            "code": "civil", "name": "县民政局", "contact": "李", "mapping": "", "csrf_token": csrf})
        assert added.status_code == 303
        assert added.headers["location"] == "/admin/departments/civil?done=added"
        issued = client.post("/admin/departments/civil/keys", data={"csrf_token": csrf})
        assert issued.status_code == 200 and issued.headers["cache-control"] == "no-store"
        key = issued.text.split('<code id="issued-key">')[1].split("</code>")[0]
        assert key.startswith("ctd_")
        again = client.get("/admin/departments/civil")
        assert key not in again.text and key[:12] in again.text  # the prefix names it
        rotated = client.post("/admin/departments/civil/keys/rotate",
                              data={"grace_hours": "0", "csrf_token": csrf})
        new_key = rotated.text.split('<code id="issued-key">')[1].split("</code>")[0]
        assert new_key != key
        client.cookies.clear()
        assert _push(client, "civil", "p1", key).status_code == 401  # rotated out at once
        login(client, "admin", "pw-admin-123")
        csrf = csrf_from(client.get("/admin/departments/civil").text)
        revoked = client.post("/admin/departments/civil/keys/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert "已撤销" in client.get(revoked.headers["location"]).text
    finally:
        client.cookies.clear()
    assert _push(client, "civil", "p2", new_key).status_code == 401
    events = _query(site["url"], "SELECT action, actor_role FROM audit_events WHERE target = "
                    "'department civil' ORDER BY id")
    assert events == [("department.add", "county_admin"), ("department.key_issue", "county_admin"),
                      ("department.key_rotate", "county_admin"),
                      ("department.key_revoke", "county_admin")]


def test_other_roles_are_refused_the_pages(site: dict[str, Any]) -> None:
    client = site["client"]
    headers = {"Authorization": f"Bearer {site['tokens']['village']}"}
    assert client.get("/admin/departments", headers=headers).status_code == 403
    assert client.post("/admin/departments/tax/keys", headers=headers).status_code == 403
    assert client.get("/admin/departments").status_code == 401  # anonymous (not a browser)
    page = client.get("/admin/departments", headers={"Accept": "text/html"})
    assert page.status_code == 303 and "/login" in page.headers["location"]


# -- the CLI ------------------------------------------------------------------------------------------

def test_cli(db_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The interface scripts rely on: add, list --json, key issue --json (the key only there),
    key list (never the key), rotate, revoke; refusals exit 2 with one line in zh and en."""
    from typer.testing import CliRunner

    from ctown.cli import app

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        load_regions(s, REGIONS, source="test")
    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(tmp_path))
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(app, list(args))

    added = run("departments", "add", "tax", "--name", "县税务局", "--contact", "王 0572")
    assert added.exit_code == 0, added.output
    dup = run("departments", "add", "tax", "--name", "again")
    assert dup.exit_code == 2 and "部门 tax 已登记 / department tax is already registered" in (
        dup.stderr)
    unknown = run("departments", "add", "forest", "--name", "林业局")
    assert unknown.exit_code == 2 and "没有映射文件 forest" in unknown.stderr
    assert "no mapping file forest" in unknown.stderr
    assert run("departments", "add", "tax_east", "--name", "东区", "--mapping", "tax").exit_code == 0
    listed = json.loads(run("departments", "list", "--json").stdout)
    assert [(d["code"], d["mapping"], d["active_keys"]) for d in listed] == [
        ("tax", "tax", 0), ("tax_east", "tax", 0)]
    issued = run("departments", "key", "issue", "tax", "--json")
    assert issued.exit_code == 0, issued.output
    out = json.loads(issued.stdout)
    assert list(out) == ["department", "key"] and out["department"] == "tax"
    key = out["key"]
    keys = run("departments", "key", "list", "tax", "--json")
    assert key not in keys.stdout and json.loads(keys.stdout)[0]["prefix"] == key[:12]
    rotated = json.loads(run("departments", "key", "rotate", "tax", "--grace-hours", "2",
                             "--json").stdout)
    assert rotated["key"] != key and rotated["previous_valid_until"] is not None
    states = [k["state"] for k in json.loads(run("departments", "key", "list", "tax",
                                                 "--json").stdout)]
    assert states == ["active", "grace"]
    revoked = run("departments", "key", "revoke", "tax")
    assert revoked.exit_code == 0 and "2" in revoked.stdout
    for args in (("key", "issue", "bank"), ("key", "revoke", "bank"), ("key", "list", "bank"),
                 ("key", "rotate", "bank")):
        missing = run("departments", *args)
        assert missing.exit_code == 2 and "没有登记部门 bank" in missing.stderr, args
    assert run("departments", "key", "rotate", "tax", "--grace-hours", "-1").exit_code == 2
    readable = run("departments", "key", "issue", "tax_east")
    assert readable.exit_code == 0 and "ctd_" in readable.stdout and "shown only now" in (
        readable.stdout)
    with session_factory(engine)() as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
            AuditEvent.action.like("department.%"))) == 6
        details = json.dumps([e.detail for e in s.scalars(sa.select(AuditEvent))])
        assert key not in details and rotated["key"] not in details
    engine.dispose()


# -- the demo -----------------------------------------------------------------------------------------

@pytest.mark.usefixtures("regions")
def test_demo_registers_every_department_with_a_key(session: Session, tmp_path: Path) -> None:
    from ctown.ingest import demo
    from ctown.ingest.mapping import load_mappings

    keys_file = tmp_path / "var" / demo.KEYS_FILE
    demo._departments(session, keys_file)
    codes = sorted(load_mappings())
    assert len(codes) == 12
    saved = json.loads(keys_file.read_text())
    assert sorted(saved) == codes and keys_file.stat().st_mode & 0o777 == 0o600
    for code, key in saved.items():
        assert feeds.authenticate_key(session, key, code).department_code == code
    demo._departments(session, keys_file)  # a second run changes nothing
    assert session.scalar(sa.select(sa.func.count()).select_from(DepartmentKey)) == 12
    assert json.loads(keys_file.read_text()) == saved
