"""The capability contract (ctown.capabilities): every package of CAPABILITIES keeps it, and a new
capability composes into the app, the CLI, ``ctown status`` and the ledger by declaring itself and
taking one line of CAPABILITIES (here a throwaway package, added for one test only)."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi import APIRouter
from sqlalchemy.orm import Session
from tests.factories import build_county
from tests.webutil import county_site, login
from typer.main import get_command
from typer.testing import CliRunner

import ctown
from ctown import capabilities as contract
from ctown.access.policy import POLICY, roles_with
from ctown.accounts.roles import Role
from ctown.app import shows
from ctown.capabilities import (
    CAPABILITIES,
    Capability,
    CapabilityError,
    DemoContext,
    Job,
    capabilities,
    capability,
)
from ctown.crypto import FieldCipher
from ctown.db import Base
from ctown.settings import Settings

SRC = Path(ctown.__file__).parent
DOCS = SRC.parent.parent / "docs"
KINDS = {"household", "person", "entity", "collective"}
#: The conventional module of each part: a package that has the module declares the part.
CONVENTION = {"models": "models", "api": "api", "pages": "views", "cli": "cli", "demo": "demo",
              "status": "status"}


@pytest.fixture(params=CAPABILITIES)
def cap(request: pytest.FixtureRequest) -> Capability:
    return capability(request.param)


# -- every package keeps the contract ------------------------------------------------------------
def test_declaration_is_the_packages_own(cap: Capability) -> None:
    assert cap.name in CAPABILITIES and (SRC / cap.name / "capability.py").is_file()
    refs = [getattr(cap, part) for part in ("models", "api", "pages", "nav", "subject_links",
                                            "cli", "install", "demo", "status")]
    refs += [s.model for s in cap.ledger] + [j.run for j in cap.jobs]
    for ref in filter(None, refs):
        assert ref.startswith(f"ctown.{cap.name}."), f"{cap.name} declares {ref} of another package"


def test_every_conventional_module_is_declared(cap: Capability) -> None:
    for part, module in CONVENTION.items():
        if (SRC / cap.name / f"{module}.py").is_file():
            assert getattr(cap, part) is not None, f"ctown/{cap.name}/{module}.py is not declared"


def test_parts_load_with_their_types(cap: Capability) -> None:
    models = cap.models_module()
    if models is not None:
        assert any(m.class_.__module__ == models.__name__ for m in Base.registry.mappers)
    for router in (cap.api_router(), cap.page_router()):
        assert router is None or isinstance(router, APIRouter)
    for fn, arity in ((cap.cli_registration(), 1), (cap.installer(), 2),
                      (cap.demo_builder(), 2), (cap.status_counts(), 1)):
        if fn is not None:
            required = [p for p in inspect.signature(fn).parameters.values()
                        if p.default is inspect.Parameter.empty]
            assert len(required) == arity, f"{cap.name}: {fn.__qualname__} takes {required}"


def test_menu_entries_name_a_policy_row_or_roles(cap: Capability) -> None:
    for entry in [*cap.navigation(), *cap.links()]:
        assert entry["href"].startswith("/") and entry["label"]
        if "resource" in entry:
            purpose = entry.get("purpose", "view")
            assert purpose in POLICY[entry["resource"]], entry
            if "roles" in entry:  # the app asks the table; roles beside it must not disagree
                assert {Role(r) for r in entry["roles"]} == roles_with(entry["resource"],
                                                                       purpose), entry
        else:
            assert {Role(r) for r in entry.get("roles") or ()} <= set(Role), entry
    for link in cap.links():
        assert "{id}" in link["href"] and set(link.get("kinds", KINDS)) <= KINDS, link


def test_demo_builders_accept_the_context(cap: Capability, tmp_path: Path) -> None:
    build = cap.demo_builder()
    if build is None:
        return
    ctx = DemoContext(settings=Settings(var_dir=tmp_path), workdir=tmp_path,
                      cipher=FieldCipher.load(tmp_path / "keys.json"))
    inspect.signature(build).bind(None, ctx)
    assert "ctx" in inspect.signature(build).parameters


def test_no_demo_builder_looks_a_user_up_by_name() -> None:
    for path in sorted(SRC.glob("*/demo.py")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"username\s*(==|\.in_)", text), f"{path}: ask the context by role"


def test_every_mapped_table_belongs_to_a_declared_models_module() -> None:
    contract.load_all_models()
    declared = {c.models for c in capabilities() if c.models}
    assert {m.class_.__module__ for m in Base.registry.mappers} <= declared


def test_ledger_sources_are_unique_and_real() -> None:
    from ctown.ledger.sources import all_sources

    declared = [s for c in capabilities() for s in c.ledger]
    kinds = [s.kind for s in declared]
    assert len(kinds) == len(set(kinds)) and set(all_sources()) == set(kinds)
    assert {"change_event", "credit_value", "grade", "loan_decision", "audit",
            "credit_query"} <= set(kinds)
    for source in declared:
        table = source.table()
        assert source.id_column in source.columns and set(source.columns) <= set(table.c.keys())


def test_status_counts_keep_their_keys_apart(session: Session) -> None:
    from ctown.status import collect

    seen: dict[str, str] = {}
    for cap in capabilities():
        fn = cap.status_counts()
        for key, value in (fn(session) if fn else {}).items():
            assert isinstance(value, int), key
            assert key not in seen, f"{key}: counted by {seen[key]} and {cap.name}"
            seen[key] = cap.name
    assert set(collect(session)) == set(seen)


# -- scheduled jobs --------------------------------------------------------------------------------
def _command(root: typer.Typer, words: list[str]) -> object:
    group = get_command(root)
    for word in words:
        group = group.commands[word]  # type: ignore[attr-defined]  # a click Group until the end
    return group.callback


def _operations_rows() -> dict[str, str]:
    """docs/operations.md's cron table: command → when."""
    text = (DOCS / "operations.md").read_text(encoding="utf-8")
    return {m[2]: m[1] for m in re.finditer(r"^\| ([^|]+?) \| `(ctown [^`]+)` \|", text, re.M)}


def test_jobs_are_real_commands_and_documented() -> None:
    from ctown.cli import app

    rows = _operations_rows()
    jobs = contract.jobs()
    assert jobs
    for cap, job in jobs:
        callback = _command(app, job.name.split())
        assert getattr(callback, "__wrapped__", callback) is job.callable() or \
            callback is job.callable(), f"{job.command} does not call {job.run}"
        assert rows.get(job.command) == job.schedule, f"{job.command} ({cap.name}) not in docs"
    assert set(rows) == {job.command for _c, job in jobs}, "docs/operations.md lists other jobs"


@pytest.mark.parametrize(("schedule", "cron"), [
    ("every 5 minutes", "*/5 * * * *"), ("hourly", "0 * * * *"), ("daily 01:00", "0 1 * * *"),
    ("daily 08:30", "30 8 * * *"), ("daily", "30 2 * * *"), ("after ingest", None)])
def test_job_schedules_become_cron_lines(schedule: str, cron: str | None) -> None:
    assert Job("x", schedule, "ctown.cli:status", "why").cron == cron


def test_an_unknown_schedule_is_refused() -> None:
    with pytest.raises(CapabilityError, match="fortnightly"):
        _ = Job("x", "fortnightly", "ctown.cli:status", "why").cron


# -- the demo context ------------------------------------------------------------------------------
def test_demo_context_hands_users_by_role(session: Session, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    county = build_county(session, FieldCipher.load(settings.keyring_path), households=1)
    u = county.users
    ctx = DemoContext.of(settings, tmp_path, [u["village2"], u["bank"], u["village"]])
    assert [x.username for x in ctx.users_of(session, Role.village_officer)] == ["village2",
                                                                                "village"]
    assert ctx.user(session, Role.bank_officer) is u["bank"]
    assert ctx.user(session, Role.village_officer, 1) is u["village"]
    assert ctx.user(session, Role.farmer) is None and ctx.user(session, Role.bank_officer, 1) is None


def test_demo_loads_feeds_as_ctown_ingest_does(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The demo's feeds and ``ctown ingest <folder>`` leave the same register and quarantine."""
    from ctown.db import make_engine, session_factory
    from ctown.ingest import demo as ingest_demo
    from ctown.migrate import upgrade
    from ctown.status import collect
    from ctown.synth.generator import generate

    folder = tmp_path / "county"
    generate(households=40, seed=5, out=folder)
    counts = []
    for how in ("demo", "cli"):
        url, var = db_factory.migrated_url(), tmp_path / how
        engine = make_engine(url)
        upgrade(engine)
        factory = session_factory(engine)
        if how == "demo":
            settings = Settings(database_url=url, var_dir=var)
            ctx = DemoContext(settings=settings, workdir=folder,
                              cipher=FieldCipher.load(settings.keyring_path), factory=factory)
            with factory.begin() as session:
                ingest_demo.build(session, ctx)
        else:
            # A process of its own, as an operator runs it (the command leaves its engine open).
            env = {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var)}
            subprocess.run([sys.executable, "-m", "ctown", "ingest", str(folder), "--json"],
                           env=env, check=True, capture_output=True, timeout=300)
        with factory() as session:
            counts.append({k: v for k, v in collect(session).items()
                           if k.startswith(("subjects.", "regions.", "ingest.batches",
                                            "ingest.quarantined", "ingest.pending"))})
        engine.dispose()
    assert counts[0] == counts[1] and counts[0]["subjects.household"] == 40


# -- a new capability: its own package and one line of CAPABILITIES ------------------------------
FAKE = {
    "__init__.py": '"""A throwaway capability for tests/test_capabilities.py."""\n',
    "capability.py": """
        from ctown.capabilities import Capability, LedgerSource

        CAPABILITY = Capability(
            name="zzfake",
            api="ctown.zzfake.api:router",
            pages="ctown.zzfake.views:router",
            nav="ctown.zzfake.views:NAV",
            subject_links="ctown.zzfake.views:SUBJECT_LINKS",
            cli="ctown.zzfake.cli:register",
            status="ctown.zzfake.status:counts",
            ledger=(LedgerSource("zzfake_event", "ctown.registry.models:ChangeEvent",
                                 ("id", "digest")),),
        )
    """,
    "api.py": """
        from fastapi import APIRouter

        from ctown.web.deps import Me

        router = APIRouter()


        @router.get("/zzfake/ping")
        def ping(user: Me) -> dict[str, str]:
            return {"pong": user.username}
    """,
    "views.py": """
        from fastapi import APIRouter
        from fastapi.responses import HTMLResponse

        from ctown.web.deps import Me

        router = APIRouter()
        NAV = [{"href": "/zzfake", "label": "假能力", "resource": "audit", "purpose": "view"}]
        SUBJECT_LINKS = [{"href": "/zzfake/{id}", "label": "假档案", "kinds": ["household"],
                          "resource": "subject", "purpose": "credit_file"}]


        @router.get("/zzfake", response_class=HTMLResponse)
        def page(user: Me) -> HTMLResponse:
            return HTMLResponse("<p>zzfake</p>")
    """,
    "cli.py": """
        import typer


        def hello() -> None:
            print("hello from zzfake")


        def register(root: typer.Typer) -> None:
            root.command("zzfake-hello")(hello)
    """,
    "status.py": """
        def counts(session: object) -> dict[str, int]:
            return {"zzfake.things": 7}
    """,
}


@pytest.fixture
def fake_capability(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    package = tmp_path / "pkgs" / "zzfake"
    package.mkdir(parents=True)
    for name, text in FAKE.items():
        (package / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    monkeypatch.setattr(ctown, "__path__", [*ctown.__path__, str(package.parent)])
    monkeypatch.setattr(contract, "CAPABILITIES", (*CAPABILITIES, "zzfake"))
    try:
        yield "zzfake"
    finally:
        for name in [m for m in sys.modules if m.startswith("ctown.zzfake")]:
            del sys.modules[name]


def test_fake_capability_keeps_the_contract(fake_capability: str) -> None:
    cap = capability(fake_capability)
    assert isinstance(cap.api_router(), APIRouter) and cap.navigation()[0]["href"] == "/zzfake"
    assert [c.name for c in capabilities()][-1] == "zzfake"


def test_fake_capability_composes_into_the_app(fake_capability: str, db_factory,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    with county_site(db_factory.migrated_url(), tmp_path, households=2) as client:
        assert client.get("/api/v1/zzfake/ping").status_code == 401  # authenticated like any
        login(client, "admin", "pw-admin-123")
        assert client.get("/api/v1/zzfake/ping").json() == {"pong": "admin"}
        assert client.get("/zzfake").text == "<p>zzfake</p>"
        assert 'href="/zzfake"' in client.get("/").text  # audit/view: the county admin reaches it
        client.cookies.clear()
        login(client, "farmer", "pw-farmer-123")
        assert 'href="/zzfake"' not in client.get("/account").text  # a farmer: no audit row


def test_fake_capability_joins_cli_status_and_ledger(fake_capability: str,
                                                     session: Session) -> None:
    from ctown.cli import compose
    from ctown.ledger.sources import all_sources
    from ctown.status import collect

    root = typer.Typer()
    compose(root)
    result = CliRunner().invoke(root, ["zzfake-hello"])
    assert result.exit_code == 0 and "hello from zzfake" in result.output
    assert collect(session)["zzfake.things"] == 7
    assert "zzfake_event" in all_sources()


def test_a_package_without_declaration_is_named(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "zznone").mkdir()
    (tmp_path / "zznone" / "__init__.py").write_text("")
    monkeypatch.setattr(ctown, "__path__", [*ctown.__path__, str(tmp_path)])
    try:
        with pytest.raises(CapabilityError, match=r"ctown.zznone: no capability.py"):
            capability("zznone")
    finally:
        sys.modules.pop("ctown.zznone", None)


# -- menu entries: the policy table, else the roles ----------------------------------------------
class _User:
    def __init__(self, role: Role) -> None:
        self.role = role


@pytest.mark.parametrize("role", list(Role))
def test_menu_entries_follow_the_policy_table(role: Role) -> None:
    user = _User(role)
    assert shows({"href": "/a", "label": "a", "resource": "audit"}, user) == (
        role in roles_with("audit", "view"))
    assert shows({"href": "/q", "label": "q", "resource": "quarantine", "purpose": "resolve"},
                 user) == (role in roles_with("quarantine", "resolve"))
    assert shows({"href": "/r", "label": "r", "roles": [Role.farmer]}, user) == (
        role == Role.farmer)
    assert shows({"href": "/e", "label": "e"}, user)


def test_menu_entries_for_nobody_signed_in() -> None:
    assert not shows({"href": "/a", "label": "a", "resource": "audit"}, None)
    assert not shows({"href": "/r", "label": "r", "roles": [Role.farmer]}, None)

