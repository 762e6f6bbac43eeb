"""``ctown admin create`` and ``ctown users …`` exactly as scripts use them (issue #11's
interfaces), on both databases: an empty database brought up by the commands alone, every role
added, refusals with exit code 2 and one line in Chinese and English, everything audited."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import COUNTY, REGIONS, TOWNSHIP, VILLAGE_A
from typer.testing import CliRunner, Result

from ctown.accounts.models import ApiToken, User, UserSession
from ctown.accounts.roles import Role
from ctown.accounts.service import issue_token
from ctown.accounts.sessions import start
from ctown.app import create_app
from ctown.cli import app
from ctown.db import make_engine, session_factory
from ctown.privacy.models import AuditEvent
from ctown.registry.models import Region, Subject
from ctown.registry.tasks import load_regions
from ctown.settings import Settings

GOOD = "稻田-晚霞-2026-kx"
CODE = re.compile(r"^一次性密码 / one-time code: ([a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5})$", re.M)


class Ctown:
    """``ctown …`` against one database (CliRunner: stdout and stderr apart)."""

    def __init__(self, url: str, var: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.url, self.var = url, var
        monkeypatch.setenv("CTOWN_DATABASE_URL", url)
        monkeypatch.setenv("CTOWN_VAR_DIR", str(var))

    def __call__(self, *args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(app, list(args), input=stdin)

    def query(self, stmt: Any) -> list[Any]:
        engine = make_engine(self.url)
        try:
            with session_factory(engine)() as s:
                return list(s.execute(stmt).all())
        finally:
            engine.dispose()

    def run(self, fn: Any) -> Any:
        engine = make_engine(self.url)
        try:
            with session_factory(engine).begin() as s:
                return fn(s)
        finally:
            engine.dispose()


@pytest.fixture
def ctown(db_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Ctown:  # type: ignore[no-untyped-def]
    return Ctown(db_factory.url(), tmp_path, monkeypatch)  # an empty database: no tables


def refused(result: Result, *words: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    line = result.stderr.strip()
    assert " / " in line and re.search(r"[\u4e00-\u9fff]", line), line  # zh / en
    for word in words:
        assert word in line, line


def test_first_administrator_on_an_empty_database(ctown: Ctown) -> None:
    refused(ctown("admin", "create", "chief", "--password-stdin", stdin=GOOD + "\n"),
            "--region", "no county region")
    made = ctown("admin", "create", "chief", "--password-stdin", "--region", COUNTY,
                 "--region-name", "德清县", "--name", "县中心", stdin=GOOD + "\n")
    assert made.exit_code == 0, made.stderr
    assert made.stdout == ""  # no code: the password came from standard input
    assert ctown.query(sa.select(Region.code, Region.name, Region.level)) == [
        (COUNTY, "德清县", "county")]  # that region and nothing else
    assert ctown.query(sa.select(User.username, User.role, User.region_code,
                                 User.must_change_password, User.display_name)) == [
        ("chief", "county_admin", COUNTY, False, "县中心")]
    again = ctown("admin", "create", "chief2", "--password-stdin", stdin=GOOD + "\n")
    refused(again, "已有在用的县管理员", "exists already", "chief")
    assert len(ctown.query(sa.select(User.id))) == 1
    (detail,), = ctown.query(sa.select(AuditEvent.detail).where(AuditEvent.action == "user.add",
                                                                AuditEvent.actor_id.is_(None)))
    assert detail["role"] == "county_admin" and GOOD not in json.dumps(detail, ensure_ascii=False)
    with TestClient(create_app(Settings(database_url=ctown.url, var_dir=ctown.var))) as client:
        answer = client.post("/api/v1/auth/token", json={"username": "chief", "password": GOOD})
        assert answer.status_code == 200 and "expires_at" in answer.json()


def test_first_administrator_with_a_one_time_code(ctown: Ctown) -> None:
    made = ctown("admin", "create", "chief", "--region", COUNTY)
    assert made.exit_code == 0, made.stderr
    codes = CODE.findall(made.stdout)
    assert len(codes) == 1 and made.stdout.count(codes[0]) == 1
    assert ctown.query(sa.select(User.must_change_password)) == [(True,)]
    refused(ctown("admin", "create", "other", "--region", COUNTY), "exists already")
    with TestClient(create_app(Settings(database_url=ctown.url, var_dir=ctown.var))) as client:
        first = client.post("/api/v1/auth/token", json={"username": "chief",
                                                        "password": codes[0]})
        assert first.status_code == 403
        done = client.post("/api/v1/auth/token", json={"username": "chief", "password": codes[0],
                                                       "new_password": GOOD})
        assert done.status_code == 200


def test_a_weak_or_missing_password_on_stdin_is_refused(ctown: Ctown) -> None:
    refused(ctown("admin", "create", "chief", "--password-stdin", "--region", COUNTY,
                  stdin="woaini1314\n"), "common")
    refused(ctown("admin", "create", "chief", "--password-stdin", "--region", COUNTY,
                  stdin="chief-2026-kx\n"), "username")
    refused(ctown("admin", "create", "chief", "--password-stdin", "--region", COUNTY,
                  stdin="short1\n"), "at least 10")
    refused(ctown("admin", "create", "chief", "--password-stdin", "--region", COUNTY,
                  stdin=""), "standard input")
    refused(ctown("admin", "create", "chief", "--region", "330521100000"), "not a county code")


def _county(ctown: Ctown) -> int:
    """The regions file loaded (as ``ctown ingest`` does) and a household of village A."""
    def build(s: Any) -> int:
        load_regions(s, REGIONS, source="test")
        subject = Subject(kind="household", name="张三", region_code=VILLAGE_A,
                          household_no="H-CLI-1")
        s.add(subject)
        s.flush()
        return int(subject.id)
    assert ctown("admin", "create", "chief", "--password-stdin", stdin=GOOD).exit_code == 2
    assert ctown("db", "upgrade").exit_code == 0
    household = ctown.run(build)
    assert ctown("admin", "create", "chief", "--password-stdin", stdin=GOOD).exit_code == 0
    return household


#: Every role, with what its account must name.
EXTRA = {Role.bank_officer: ["--bank", "RCB001"], Role.insurer: ["--bank", "PICC01"],
         Role.department_feed: ["--department", "tax"]}


def test_every_role_added_and_listed(ctown: Ctown) -> None:
    household = _county(ctown)
    for role in Role:
        extra = EXTRA.get(role, [])
        if role == Role.farmer:
            extra = ["--subject", str(household)]
        region = VILLAGE_A if role in (Role.farmer, Role.village_officer) else COUNTY
        added = ctown("users", "add", f"u_{role.value}", "--role", role.value, "--region", region,
                      "--name", f"用户 {role.value}", *extra, "--password-stdin",
                      stdin=f"{GOOD}-{role.value}\n")
        assert added.exit_code == 0, (role, added.stderr)
    listed = ctown("users", "list", "--json")
    assert listed.exit_code == 0
    rows = {r["username"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"chief"} | {f"u_{r.value}" for r in Role}
    farmer = rows["u_farmer"]
    assert {k: farmer[k] for k in ("role", "region_code", "active", "subject_id",
                                   "must_change_password", "bank_code")} == {
        "role": "farmer", "region_code": VILLAGE_A, "active": True, "subject_id": household,
        "must_change_password": True, "bank_code": None}
    assert rows["u_bank_officer"]["bank_code"] == "RCB001"
    assert set(farmer) >= {"username", "role", "region_code", "active", "bank_code",
                           "subject_id", "must_change_password", "created_at"}
    assert farmer["created_at"].endswith("+00:00")
    assert {r["role"] for r in rows.values()} == {r.value for r in Role}


def test_refusals_name_the_problem(ctown: Ctown) -> None:
    household = _county(ctown)
    unknown_role = ctown("users", "add", "x1", "--role", "boss", "--region", COUNTY)
    refused(unknown_role, "boss", *(r.value for r in Role))
    refused(ctown("users", "add", "x2", "--role", "merchant", "--region", "330521999999"),
            "330521999999")
    refused(ctown("users", "add", "x3", "--role", "farmer", "--region", VILLAGE_A), "subject")
    refused(ctown("users", "add", "x4", "--role", "bank_officer", "--region", COUNTY), "--bank")
    refused(ctown("users", "add", "chief", "--role", "merchant", "--region", COUNTY),
            "already exists")
    for command in (["disable"], ["enable"], ["change", "--role", "merchant"],
                    ["reset-password"], ["sessions"], ["end-sessions"]):
        refused(ctown("users", command[0], "nobody", *command[1:]), "nobody")
    refused(ctown("users", "add", "x5", "--role", "farmer", "--region", TOWNSHIP[:6] + "101000",
                  "--subject", str(household)), "not inside")
    assert ctown("users", "add", "x6", "--role", "merchant", "--region", TOWNSHIP).exit_code == 0
    refused(ctown("users", "change", "x6", "--role", "boss"), "boss")
    refused(ctown("users", "disable", "chief"), "only active county administrator")


def test_without_a_password_a_one_time_code_is_printed_once(ctown: Ctown) -> None:
    _county(ctown)
    added = ctown("users", "add", "clerk", "--role", "village_officer", "--region", VILLAGE_A)
    assert added.exit_code == 0, added.stderr
    (code,) = CODE.findall(added.stdout)
    assert added.stdout.count(code) == 1 and code not in added.stderr
    as_json = ctown("users", "add", "clerk2", "--role", "merchant", "--region", COUNTY, "--json")
    assert json.loads(as_json.stdout)["one_time_code"]
    reset = ctown("users", "reset-password", "clerk")
    (again,) = CODE.findall(reset.stdout)
    assert again != code
    with TestClient(create_app(Settings(database_url=ctown.url, var_dir=ctown.var))) as client:
        assert client.post("/api/v1/auth/token", json={
            "username": "clerk", "password": code}).status_code == 401
        assert client.post("/api/v1/auth/token", json={
            "username": "clerk", "password": again}).status_code == 403  # set one's own first


def test_disable_enable_change_reset_sessions(ctown: Ctown) -> None:
    _county(ctown)
    assert ctown("users", "add", "clerk", "--role", "village_officer", "--region", VILLAGE_A,
                 "--password-stdin", stdin=GOOD).exit_code == 0

    def signed_in(s: Any) -> None:
        user = s.scalar(sa.select(User).where(User.username == "clerk"))
        start(s, user, client="10.0.0.7", agent="Mozilla/5.0 " + "x" * 300)
        issue_token(s, user, "月报")
    ctown.run(signed_in)
    shown = ctown("users", "sessions", "clerk", "--json")
    data = json.loads(shown.stdout)
    assert [s["client"] for s in data["sessions"]] == ["10.0.0.7"]
    assert len(data["sessions"][0]["user_agent"]) == 120
    assert [t["name"] for t in data["tokens"]] == ["月报"]
    assert ctown("users", "sessions", "clerk").exit_code == 0  # the table
    ended = ctown("users", "end-sessions", "clerk")
    assert json.loads(ended.stdout) == {"username": "clerk", "sessions_ended": 1,
                                        "tokens_revoked": 0}
    ctown.run(signed_in)
    ended = ctown("users", "end-sessions", "clerk", "--tokens")
    assert json.loads(ended.stdout)["tokens_revoked"] == 2
    changed = ctown("users", "change", "clerk", "--role", "bank_officer", "--region", COUNTY,
                    "--bank", "RCB001")
    assert changed.exit_code == 0, changed.stderr
    assert {k: json.loads(changed.stdout)[k] for k in ("role", "region_code", "bank_code")} == {
        "role": "bank_officer", "region_code": COUNTY, "bank_code": "RCB001"}
    ctown.run(signed_in)
    assert ctown("users", "disable", "clerk").exit_code == 0
    assert ctown.query(sa.select(User.is_active).where(User.username == "clerk")) == [(False,)]
    assert ctown.query(sa.select(sa.func.count()).select_from(UserSession).where(
        UserSession.ended_at.is_(None))) == [(0,)]
    assert ctown.query(sa.select(sa.func.count()).select_from(ApiToken).where(
        ApiToken.revoked_at.is_(None))) == [(0,)]
    assert ctown("users", "enable", "clerk").exit_code == 0
    listed = json.loads(ctown("users", "list", "--json").stdout)
    assert [r["active"] for r in listed if r["username"] == "clerk"] == [True]
    reset = ctown("users", "reset-password", "clerk", "--password-stdin", stdin=GOOD + "-2\n")
    assert reset.exit_code == 0 and reset.stdout == ""
    assert ctown.query(sa.select(User.must_change_password).where(
        User.username == "clerk")) == [(True,)]
    actions = [a for (a,) in ctown.query(sa.select(AuditEvent.action).where(
        AuditEvent.target == "user clerk").order_by(AuditEvent.id))]
    assert actions == ["user.add", "user.sessions_end", "user.sessions_end", "user.change",
                       "user.disable", "user.enable", "user.password_reset"]
    details = ctown.query(sa.select(AuditEvent.detail))
    assert GOOD not in json.dumps([d for (d,) in details], ensure_ascii=False)
