"""The ledger keeps up by itself (#12 item 10): a writer's records go on the log in its own
commit, a run ends with a signed checkpoint, and records left pending too long are a problem.
Real databases (both), real ``ctown`` commands; no ``ctown ledger checkpoint`` anywhere."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ctown.audit import audit
from ctown.db import make_engine, utcnow
from ctown.ledger import keeping, service
from ctown.ledger.integrity import verify_log
from ctown.ledger.models import LedgerCheckpoint, LedgerLog
from ctown.ledger.store import DbTree
from ctown.privacy.models import AuditEvent
from ctown.settings import Settings

SOURCE_TABLES = {"credit_value": "indicator_values", "change_event": "change_events",
                 "audit": "audit_events", "credit_query": "privacy_credit_queries", "grade": "grades",
                 "loan_decision": "loan_transitions", "config_version": "config_versions"}


def _settings(url: str, var: Path) -> Settings:
    return Settings(database_url=url, var_dir=var)


def _located(engine: sa.Engine, kind: str, ref: int) -> int | None:
    with Session(engine) as s:
        log = service.require_log(s)
        return DbTree(s, service.tree(s, log).hasher).locate(kind, ref)


def _log_size(engine: sa.Engine) -> int:
    with Session(engine) as s:
        return int(s.scalar(sa.select(LedgerLog.size)) or 0)


@pytest.fixture
def kept(db_factory: Any, tmp_path: Path) -> Any:
    url = db_factory.migrated_url()
    engine = make_engine(url)
    keeper = keeping.install(engine, _settings(url, tmp_path / "var"))
    yield engine, keeper
    keeping.uninstall(engine)
    engine.dispose()


def test_a_commit_puts_its_records_on_the_log_and_a_rollback_none(kept: Any) -> None:
    engine, _keeper = kept
    with Session(engine) as s, s.begin():
        audit(s, None, "test.first", "x")
    with Session(engine) as s:
        first = s.scalar(sa.select(AuditEvent.id))
    assert first is not None and _located(engine, "audit", first) == 0
    with Session(engine) as s:
        s.begin()
        audit(s, None, "test.rolled_back", "y")
        s.rollback()
    with Session(engine) as s, s.begin():
        # Not flushed by the caller: the commit's own flush must still reach the log.
        s.add(AuditEvent(action="test.second", target="z", detail={}))
    with Session(engine) as s:
        rows = s.execute(sa.select(AuditEvent.id, AuditEvent.action).order_by(AuditEvent.id)).all()
        report = verify_log(s)
    assert [a for _, a in rows] == ["test.first", "test.second"]
    assert _located(engine, "audit", rows[1][0]) == 1 and _log_size(engine) == 2
    assert report.ok and report.pending["audit"] == 0, report.as_json()


def test_the_keeper_signs_what_it_appended_when_it_stops(kept: Any) -> None:
    engine, keeper = kept
    with Session(engine) as s, s.begin():
        for i in range(3):
            audit(s, None, "test.signed", str(i))
    with Session(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(LedgerCheckpoint)) == 0
    assert keeper.sign() is True and keeper.sign() is False  # nothing new: no second checkpoint
    with Session(engine) as s:
        sizes = list(s.scalars(sa.select(LedgerCheckpoint.tree_size)))
    assert sizes == [3]


def test_a_stale_mark_does_not_append_rows_that_are_not_the_commits_own(kept: Any) -> None:
    """A mark left on a connection id (a closed connection's, reused; a rolled-back write) must not
    make the next commit on that id append what other writers left pending: it did, at random,
    when an id came back (the village-grant crash test failed one run in three under load)."""
    from ctown import appendorder
    from ctown.db import driver_connection

    engine, _keeper = kept
    other = make_engine(engine.url)  # a writer without a keeper (a script): its rows wait
    with Session(other) as s, s.begin():
        audit(s, None, "test.pending", "p")
    other.dispose()
    with engine.connect() as conn:  # the connection the next session gets from the pool
        raw = driver_connection(conn)
    appendorder.before_insert(raw, "audit_events", postgresql=False)  # a stale mark on its id
    with Session(engine) as s, s.begin():
        s.execute(sa.text("SELECT 1"))  # writes nothing of the ledger's
        assert driver_connection(s.connection()) is raw
    assert _log_size(engine) == 0
    with Session(engine) as s:
        assert verify_log(s).pending["audit"] == 1


def test_only_a_started_app_signs_on_a_timer(db_factory: Any, tmp_path: Path) -> None:
    from tests.webutil import make_app_client

    def timers() -> int:
        return sum(t.name == "ledger-checkpoint" and t.is_alive() for t in threading.enumerate())

    before = timers()
    url = db_factory.migrated_url()
    idle = make_app_client(url, tmp_path / "var")  # built, never started
    assert timers() == before
    with make_app_client(url, tmp_path / "var") as client:
        assert timers() == before + 1
        assert client.get("/healthz").status_code == 200
    assert timers() == before
    keeping.uninstall(idle.app.state.engine)  # type: ignore[attr-defined]
    idle.app.state.engine.dispose()  # type: ignore[attr-defined]


def test_writers_that_commit_out_of_order_leave_no_gap(kept: Any) -> None:
    """PostgreSQL hands ids out at insert time: the writer with the smaller id may commit last.
    The second writer must wait for the first, or the first's row falls below the high-water
    mark, never appended and reported as inserted behind the platform's back."""
    engine, _keeper = kept
    with Session(engine) as s, s.begin():
        audit(s, None, "test.log_exists", "0")  # the log's first append, outside the race
    first = Session(engine)
    first.begin()
    audit(first, None, "test.first_writer", "a")
    second_done = threading.Event()

    def second_writer() -> None:
        with Session(engine) as s, s.begin():
            audit(s, None, "test.second_writer", "b")
        second_done.set()

    thread = threading.Thread(target=second_writer)
    thread.start()
    finished_early = second_done.wait(1.5)
    first.commit()
    first.close()
    thread.join(30)
    assert not finished_early, "the second writer committed while the first still held rows"
    with Session(engine) as s:
        report = verify_log(s)
        ids = list(s.scalars(sa.select(AuditEvent.id).order_by(AuditEvent.id)))
    assert report.ok, report.as_json()
    assert [_located(engine, "audit", i) for i in ids] == [0, 1, 2]


def test_a_cli_load_is_on_the_log_and_signed_when_it_ends(
        db_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ctown.cli import app
    from ctown.synth.generator import generate

    county = tmp_path / "county"
    generate(households=40, seed=7, out=county)
    url = db_factory.migrated_url()
    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    loaded = runner.invoke(app, ["ingest", str(county), "--json"])
    assert loaded.exit_code == 0, loaded.output
    verified = runner.invoke(app, ["ledger", "verify", "--json"])
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.stdout)
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = {kind: conn.scalar(sa.text(f"SELECT count(*) FROM {table}"))
                for kind, table in SOURCE_TABLES.items()}
        signed = conn.scalar(sa.text("SELECT max(tree_size) FROM ledger_checkpoints"))
    engine.dispose()
    assert rows["credit_value"] > 100 and rows["change_event"] > 100
    assert report["ok"] and all(v == 0 for v in report["pending"].values()), report
    assert report["size"] == sum(rows.values()) == signed


def test_records_pending_too_long_are_a_problem(
        db_factory: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = db_factory.migrated_url()
    engine = make_engine(url)
    keeping.install(engine, _settings(url, tmp_path / "var"))
    with Session(engine) as s, s.begin():
        audit(s, None, "test.kept", "0")
    keeping.uninstall(engine)  # signs the checkpoint of size 1
    with Session(engine) as s, s.begin():  # no keeper: as if written behind the platform's back
        audit(s, None, "test.unkept", "1")
    limit = dt.timedelta(minutes=15)
    with Session(engine) as s:
        fresh = verify_log(s, limit)
    assert fresh.ok and fresh.pending["audit"] == 1
    with engine.begin() as conn:
        conn.execute(sa.update(LedgerCheckpoint).values(created_at=utcnow() - dt.timedelta(hours=1)))
    with Session(engine) as s:
        stale = verify_log(s, limit)
        counted = verify_log(s)  # without an age: counted, not a problem
    assert not stale.ok and [(p.problem, p.kind) for p in stale.problems] == [("pending", "audit")]
    assert "60 minutes" in stale.problems[0].detail and counted.ok
    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(tmp_path / "var"))
    from ctown.cli import app

    result = CliRunner().invoke(app, ["ledger", "verify"])
    assert result.exit_code == 1 and "[PENDING] audit" in result.stdout
    engine.dispose()
