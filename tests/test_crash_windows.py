"""Crash windows, compared by content (#12 item 6): a real ``ctown`` process killed with SIGKILL
in the middle of key rotation, a ledger checkpoint, a scoring run and a whole-village grant, then
run again, ends in exactly the contents of an uninterrupted run of the same work on a copy of the
same database — on both databases. (The ingest's windows: ``test_ingest_kill.py``.)

Each kill point is held, not hoped for (:mod:`tests.crashutil`): on PostgreSQL the test locks a
table the work writes late, so the process waits there with its earlier rows written and not
committed; on SQLite, whose one write lock covers the database, the process is stopped the moment
it holds that lock (its first write), or — for the grant, whose transaction lasts milliseconds —
made to wait for the test's lock at its first write.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.crashutil import (
    Process,
    assert_same,
    clone,
    column,
    ctown,
    hold_writes,
    is_sqlite,
    probe,
    snapshot,
    wait_backends_gone,
)

from ctown.db import make_engine, session_factory

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Copy:
    """A database and its ``var`` folder (key ring, ledger key, session secret)."""

    url: str
    var: Path

    @property
    def ring(self) -> Path:
        return self.var / "keys.json"

    def snapshot(self, **kw: Any) -> dict[str, list[tuple[Any, ...]]]:
        return snapshot(self.url, self.ring, **kw)

    def verify_ledger(self) -> None:
        """``ctown ledger verify``, in this process: the log's hashes agree with the records."""
        from ctown.ledger.integrity import verify_log

        engine = make_engine(self.url)
        try:
            with session_factory(engine)() as session:
                report = verify_log(session)
        finally:
            engine.dispose()
        assert report.ok and report.size, list(report.lines())

    def count(self, sql: str, **params: Any) -> int:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return int(conn.scalar(sa.text(sql), params) or 0)
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def county_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ctown.synth.generator import generate

    out = tmp_path_factory.mktemp("county") / "c"
    generate(households=80, seed=23, out=out)
    return out


@pytest.fixture(scope="module")
def loaded(db_factory: Any, county_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Copy:
    """A county loaded in this process: its records are not on the ledger yet."""
    from ctown.ingest.tasks import plan, run
    from ctown.ledger.service import load_signer
    from ctown.privacy.keyring import open_cipher
    from ctown.settings import Settings

    url, var = db_factory.migrated_url(), tmp_path_factory.mktemp("loaded") / "var"
    settings = Settings(database_url=url, var_dir=var)
    engine = make_engine(url)
    cipher = open_cipher(settings, engine)  # makes the ring and binds the database to it
    planned, skipped = plan([county_dir])
    run(session_factory(engine), cipher, planned, skipped=skipped)
    engine.dispose()
    load_signer(settings)  # one ledger key for every copy: their checkpoints compare
    return Copy(url, var)


@pytest.fixture(scope="module")
def kept(db_factory: Any, loaded: Copy, tmp_path_factory: pytest.TempPathFactory) -> Copy:
    """``loaded`` with its records on the ledger: an uninterrupted ``ctown ledger checkpoint``.
    Tests copy it and never change it."""
    copy = Copy(*clone(db_factory, loaded.url, loaded.var, tmp_path_factory.mktemp("kept") / "v"))
    ctown(["ledger", "checkpoint"], copy.url, copy.var)
    return copy


def _copy(db_factory: Any, of: Copy, tmp: Path, name: str) -> Copy:
    return Copy(*clone(db_factory, of.url, of.var, tmp / name))


def _settled(copy: Copy) -> dict[str, list[tuple[Any, ...]]]:
    """The contents after the next scheduled ``ctown ledger checkpoint`` (every 5 minutes).

    A command killed after a commit appended leaves has not signed them (it signs when it
    ends), and a rerun with nothing new to append signs nothing: the checkpoint job does. An
    uninterrupted run has signed already (the job would sign nothing), so only a killed copy
    needs it."""
    ctown(["ledger", "checkpoint"], copy.url, copy.var)
    return copy.snapshot()


def _gate(url: str, pg_tables: tuple[str, ...]) -> AbstractContextManager[None]:
    """PostgreSQL: hold ``pg_tables`` against writes for the duration; SQLite: nothing."""
    return nullcontext() if is_sqlite(url) else hold_writes(url, pg_tables)


def _kill_mid_transaction(proc: Process, url: str, committed_nothing: Any) -> None:
    """Kill ``proc`` with rows written and not committed: PostgreSQL, once it waits for the
    test's lock (taken by the caller); SQLite, stopped as soon as it holds the write lock. The
    committed state is checked while it cannot move."""
    with probe(url) as p:
        if is_sqlite(url):
            proc.freeze_when(p.writing, what="its first write")
        else:
            proc.wait_for(p.waiting_for_lock, what="the test's lock")
            assert p.writing(), "it waits for the lock without having written anything"
    committed_nothing()
    proc.kill()


# -- key rotation ------------------------------------------------------------------------------


def _ring(copy: Copy) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(copy.ring.read_text())
    return data


def _under(copy: Copy, version: int) -> int:
    return copy.count(
        "SELECT count(*) FROM subjects WHERE id_cipher LIKE :p OR phone_cipher LIKE :p", p=f"{version}:%"
    )


def test_rotation_killed_between_saving_the_ring_and_the_rows(
    db_factory: Any,
    kept: Copy,
    tmp_path: Path,
) -> None:
    before = kept.snapshot()
    reference = _copy(db_factory, kept, tmp_path, "reference")
    ctown(["keys", "rotate"], reference.url, reference.var)
    expected = reference.snapshot()

    killed = _copy(db_factory, kept, tmp_path, "killed")
    args = ["keys", "rotate", "--batch", "2"]  # many short transactions: room to stop between
    # 1. The new key version is saved to the ring (a file: outside any transaction) before any
    # row is re-encrypted. The test holds the writes, so nothing the process does after saving
    # the ring can commit; it is killed as soon as the file shows the new version.
    with hold_writes(killed.url, ("audit_events", "subjects")):
        proc = Process(args, killed.url, killed.var, tmp_path / "rotate1.log")
        proc.wait_for(lambda: _ring(killed)["active"] == 2, what="the ring saved")
        if not is_sqlite(killed.url):
            with probe(killed.url) as p:
                proc.wait_for(p.waiting_for_lock, what="its first write after the ring")
        proc.kill()
    wait_backends_gone(killed.url)
    assert [k["version"] for k in _ring(killed)["keys"]] == [1, 2]
    assert_same(killed.snapshot(), before)  # nothing committed; every value still decrypts

    # 2. Resumed, and killed half-way through the batches (stopped once some rows are under
    # the new version, checked while it cannot move).
    proc = Process(args, killed.url, killed.var, tmp_path / "rotate2.log")
    proc.freeze_when(lambda: _under(killed, 2) > 0, what="the first batches")
    assert _under(killed, 1) > 0, "the rotation was over before the kill"
    proc.kill()
    wait_backends_gone(killed.url)

    # 3. Run again to the end: the same version (not a third), every value under it.
    result = json.loads(ctown(["keys", "rotate"], killed.url, killed.var))
    assert result["complete"] and not result["added"] and result["active_version"] == 2
    got = _settled(killed)
    assert_same(got, expected)
    # Every value decrypts, under version 2, to the plaintext it had before the rotation.
    rank, ids, phones = (column("subjects", c) for c in ("id", "id_cipher", "phone_cipher"))
    plain = {row[rank]: (row[ids], row[phones]) for row in before["subjects"]}
    for row in got["subjects"]:
        for old, new in zip(plain[row[rank]], (row[ids], row[phones]), strict=True):
            assert (old is None and new is None) or (old[0] == 1 and new == (2, old[1]))
    # The ring: both versions, none retired, the index key (its name, bound to the database,
    # which the rerun opened through) unchanged.
    ring = _ring(killed)
    assert ring["active"] == 2 and ring["index_key"] == _ring(kept)["index_key"]
    assert [(k["version"], k.get("retired", False)) for k in ring["keys"]] == [(1, False), (2, False)]
    killed.verify_ledger()


# -- ledger checkpoint -------------------------------------------------------------------------


def test_ledger_checkpoint_killed_mid_append(
    db_factory: Any,
    loaded: Copy,
    kept: Copy,
    tmp_path: Path,
) -> None:
    # ``kept`` is the uninterrupted run: ``ctown ledger checkpoint`` on a copy of ``loaded``.
    expected = kept.snapshot(ledger_hashes=True)
    assert expected["ledger_log"][0][column("ledger_log", "size")] > 5000  # leaves
    killed = _copy(db_factory, loaded, tmp_path, "killed")

    def nothing_on_the_log() -> None:
        assert killed.count("SELECT count(*) FROM ledger_tiles") == 0
        assert killed.count("SELECT count(*) FROM ledger_log") == 0

    # PostgreSQL: the leaves are appended (log, tiles, entries), the checkpoint waits.
    with _gate(killed.url, ("ledger_checkpoints",)):
        proc = Process(["ledger", "checkpoint"], killed.url, killed.var, tmp_path / "cp.log")
        _kill_mid_transaction(proc, killed.url, nothing_on_the_log)
    wait_backends_gone(killed.url)
    nothing_on_the_log()
    ctown(["ledger", "checkpoint"], killed.url, killed.var)
    # Same records from the same database, same key: the same tree, hashes and signed note.
    assert_same(killed.snapshot(ledger_hashes=True), expected)
    killed.verify_ledger()


# -- scoring run -------------------------------------------------------------------------------


def test_scoring_run_killed_mid_write(db_factory: Any, kept: Copy, tmp_path: Path) -> None:
    args = ["score", "--all", "--json"]
    reference = _copy(db_factory, kept, tmp_path, "reference")
    ctown(args, reference.url, reference.var)
    expected = reference.snapshot()
    assert len(expected["grades"]) > 80 and len(expected["scoring_runs"]) == 1

    killed = _copy(db_factory, kept, tmp_path, "killed")

    def no_run() -> None:
        assert killed.count("SELECT count(*) FROM scoring_runs") == 0
        assert killed.count("SELECT count(*) FROM grades") == 0

    # PostgreSQL: the run's row and the first grades are written; its change events wait.
    with _gate(killed.url, ("change_events",)):
        proc = Process(args, killed.url, killed.var, tmp_path / "score.log")
        _kill_mid_transaction(proc, killed.url, no_run)
    wait_backends_gone(killed.url)
    no_run()
    ctown(args, killed.url, killed.var)  # nothing of the killed run committed: it signs
    assert_same(killed.snapshot(), expected)
    killed.verify_ledger()


# -- whole-village grant (整村授信) --------------------------------------------------------------
# There is no command that grants a village: a bank officer does it through the API (or the
# page), so the process killed is ``ctown serve`` in the middle of that request. The
# uninterrupted grant and the officer's second try go through the same app in this process.

VILLAGE_GRANT = "/api/v1/lending/villages/{village}/grants"
GRANT_BODY = {"product_code": "rcb_credit"}


@dataclass(frozen=True)
class Bank:
    token: str
    village: str

    @property
    def path(self) -> str:
        return VILLAGE_GRANT.format(village=self.village)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="module")
def graded(
    db_factory: Any,
    kept: Copy,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Copy, Bank]:
    """``kept`` scored, with a bank officer of the product's bank and a token."""
    from ctown.accounts.service import create_user, issue_token
    from ctown.registry.models import Region, Subject
    from ctown.scoring import tasks
    from ctown.scoring.models import GradeRecord

    copy = _copy(db_factory, kept, tmp_path_factory.mktemp("graded"), "v")
    engine = make_engine(copy.url)
    with session_factory(engine).begin() as session:
        tasks.score_all(session)  # (its grades wait for the ledger: both copies append them)
        county = session.scalar(sa.select(Region.code).where(Region.level == "county"))
        officer = create_user(
            session,
            username="rcb_officer",
            password=None,
            role="bank_officer",
            region_code=county or "",
            bank_code="RCB",
        )
        token = issue_token(session, officer, "crash test")
        village = session.scalar(  # the village with the most graded households
            sa.select(Subject.region_code)
            .join(GradeRecord, GradeRecord.subject_id == Subject.id)
            .where(Subject.kind == "household", GradeRecord.is_current.is_(True))
            .group_by(Subject.region_code)
            .order_by(sa.func.count().desc())
            .limit(1)
        )
    engine.dispose()
    assert village is not None
    return copy, Bank(token, village)


def _grant_in_process(copy: Copy, bank: Bank) -> dict[str, Any]:
    """The grant through the app (what ``ctown serve`` runs), until its notice is delivered."""
    from tests.webutil import make_app_client

    with make_app_client(copy.url, copy.var) as client:
        answer = client.post(bank.path, json=GRANT_BODY, headers=bank.headers)
        assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 30
        while copy.count("SELECT count(*) FROM notify_outbox WHERE sent_at IS NULL"):
            assert time.monotonic() < deadline, "the grant's notice was not delivered"
            time.sleep(0.05)
        engine = client.app.state.engine  # type: ignore[attr-defined]
    engine.dispose()  # after the app's shutdown (which signs a checkpoint)
    body: dict[str, Any] = answer.json()
    return body


class Server:
    """``ctown serve`` on a free port, and one grant request sent to it."""

    def __init__(self, copy: Copy, log: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = Process(["serve", "--port", str(self.port)], copy.url, copy.var, log)
        self.proc.wait_for(self._up, timeout=120, what="the server")
        self.answer: dict[str, Any] = {}

    def _up(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                return True
        except OSError:
            return False

    def grant(self, bank: Bank) -> None:
        """POST the grant; ``answer`` gets the status, or the connection's error."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{bank.path}",
            data=json.dumps(GRANT_BODY).encode(),
            method="POST",
            headers={**bank.headers, "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as answer:
                self.answer.update(status=answer.status)
        except urllib.error.HTTPError as exc:
            self.answer.update(status=exc.code)
        except OSError as exc:  # the server was killed under the request
            self.answer.update(error=repr(exc))


def test_village_grant_killed_mid_request(
    db_factory: Any,
    graded: tuple[Copy, Bank],
    tmp_path: Path,
) -> None:
    base, bank = graded
    reference = _copy(db_factory, base, tmp_path, "reference")
    first = _grant_in_process(reference, bank)
    assert first["granted"] > 0
    expected = reference.snapshot()
    assert len(expected["village_grants"]) == 1 and len(expected["credit_lines"]) > 0
    assert len(expected["notify_outbox"]) == 1

    killed = _copy(db_factory, base, tmp_path, "killed")
    server = Server(killed, tmp_path / "serve.log")
    # PostgreSQL: the grant's row is written, superseding the earlier lines waits (the test
    # holds credit_lines); SQLite: the grant waits for the write lock at its first write.
    with hold_writes(killed.url, ("credit_lines",)):
        request = threading.Thread(target=server.grant, args=(bank,))
        request.start()
        if is_sqlite(killed.url):
            time.sleep(1.0)  # SQLite does not tell who waits for its lock: time to get there
        else:
            with probe(killed.url) as p:
                server.proc.wait_for(p.waiting_for_lock, what="the grant's lines")
                assert p.writing("village_grants")
        assert request.is_alive() and not server.answer, server.answer  # no answer yet
        server.proc.kill()
    request.join(timeout=30)
    assert "error" in server.answer, server.answer
    wait_backends_gone(killed.url)
    assert killed.count("SELECT count(*) FROM village_grants") == 0
    assert killed.count("SELECT count(*) FROM notify_outbox") == 0

    # The bank officer, who got no answer, grants again.
    again = _grant_in_process(killed, bank)
    assert again["granted"] == first["granted"]
    assert_same(killed.snapshot(), expected)
    killed.verify_ledger()
