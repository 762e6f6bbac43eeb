"""Crash safety: a real ``ctown ingest`` process killed with SIGKILL at several points, then run
again, ends in exactly the state (``ctown status``) of an uninterrupted load — on both databases.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from ctown.db import make_engine, session_factory
from ctown.status import collect

pytestmark = pytest.mark.slow
CTOWN = [sys.executable, "-c", "from ctown.cli import main; main()"]


@pytest.fixture(scope="module")
def synth_county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ctown.synth.generator import generate

    out = tmp_path_factory.mktemp("county") / "c"
    generate(households=200, seed=11, out=out)
    return out


def _env(url: str, var: Path) -> dict[str, str]:
    return {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var)}


def _status(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with session_factory(engine)() as session:
        counts = collect(session)
    engine.dispose()
    return counts


def _done_batches(engine: sa.Engine) -> int:
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.text(
                "SELECT count(*) FROM ingest_batches WHERE status = 'done'")) or 0
    except sa.exc.OperationalError:  # SQLite busy for a moment while the load commits
        return -1


def _regions(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM regions")) or 0


def _kill_when(cmd: list[str], env: dict[str, str], engine: sa.Engine, ready: object,
               extra_delay: float) -> None:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if ready():  # type: ignore[operator]
                time.sleep(extra_delay)
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the load finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


def test_killed_load_resumes_to_the_same_state(db_factory, synth_county: Path,  # type: ignore[no-untyped-def]
                                               tmp_path: Path) -> None:
    var = tmp_path / "var"
    reference, killed = db_factory.migrated_url(), db_factory.migrated_url()
    cmd = [*CTOWN, "ingest", str(synth_county), "--json"]
    summary = _load_in_process(reference, var, synth_county)
    assert summary["received"] == (summary["accepted"] + summary["quarantined"]
                                   + summary["duplicates"])
    expected = _status(reference)
    assert expected["ingest.batches"] == summary["files"]

    engine = make_engine(killed)
    env = _env(killed, var)
    # 1: while the regions or the first department file are loading
    _kill_when(cmd, env, engine, lambda: _regions(engine) > 0, 0.05)
    assert _status(killed)["ingest.batches"] < expected["ingest.batches"]
    # 2 and 3: in the middle of later files (just after a commit, and a little later)
    _kill_when(cmd, env, engine, lambda: _done_batches(engine) >= 3, 0.0)
    _kill_when(cmd, env, engine, lambda: _done_batches(engine) >= 6, 0.05)
    with engine.connect() as conn:  # no batch was left half-loaded
        assert conn.scalar(sa.text(
            "SELECT count(*) FROM ingest_batches WHERE status <> 'done'")) == 0
    engine.dispose()
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600,
                           check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert _status(killed) == expected
    # and once more: everything is already loaded, nothing changes
    again = _load_in_process(killed, var, synth_county)
    assert again["already_loaded_files"] == summary["files"]
    assert _status(killed) == expected


def _load_in_process(url: str, var: Path, county: Path) -> dict[str, object]:
    """The same load as the command (plan + run), without a second interpreter start-up."""
    from ctown.crypto import FieldCipher
    from ctown.ingest.tasks import plan, run

    engine = make_engine(url)
    planned, skipped = plan([county])
    totals = run(session_factory(engine), FieldCipher.load(var / "keys.json"), planned,
                 skipped=skipped)
    engine.dispose()
    return totals.to_json()
