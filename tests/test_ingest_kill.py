"""Crash safety: a real ``ctown ingest`` process killed with SIGKILL at several points, then run
again, ends in exactly the contents of an uninterrupted load — every table's rows (the registry,
the credit file, the quarantine, consents, the audit trail, the ledger's records), compared as
:mod:`tests.crashutil` describes (surrogate ids by rank, times by whether they are set,
ciphertexts as their plaintext) — on both databases.

A load commits the regions, then the registry departments (one group), then each consent
register, then the other departments in groups of ``Group.ROWS`` rows (one group for this
county). The kills land inside each of those; each is checked to have left the load unfinished
(the process is stopped first, the committed batches counted, then it is killed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.crashutil import Process, assert_same, check_digests, ctown, snapshot, wait_backends_gone

from ctown.db import make_engine, session_factory

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def synth_county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ctown.synth.generator import generate

    out = tmp_path_factory.mktemp("county") / "c"
    generate(households=200, seed=11, out=out)
    return out


def _count(engine: sa.Engine, sql: str) -> int:
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text(sql)) or 0)
    except sa.exc.OperationalError:  # SQLite busy for a moment while the load commits
        return -1


def _done(engine: sa.Engine) -> int:
    return _count(engine, "SELECT count(*) FROM ingest_batches WHERE status = 'done'")


def test_killed_load_resumes_to_the_same_state(
    db_factory: Any,
    synth_county: Path,
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    reference, killed = db_factory.migrated_url(), db_factory.migrated_url()
    args = ["ingest", str(synth_county), "--json"]
    # The uninterrupted load is the same command, so that it does all the command does (binds
    # the key ring, keeps the ledger as it commits). Both databases share the key ring (``var``):
    # the same blind indexes, and each run's ciphertexts decrypt with it.
    summary = json.loads(ctown(args, reference, var, timeout=600))
    assert summary["received"] == (summary["accepted"] + summary["quarantined"] + summary["duplicates"])
    expected = snapshot(reference, var / "keys.json")
    files = summary["files"]
    assert len(expected["ingest_batches"]) == files
    assert len(expected["subjects"]) > 200 and len(expected["indicator_values"]) > 1000

    engine = make_engine(killed)
    points = [  # (what has committed when the process is stopped, the state it must show)
        ("the regions are loading", lambda: _count(engine, "SELECT count(*) FROM regions") > 0),
        (
            "the registry departments are in",  # psb, samr: then consents and the rest
            lambda: _done(engine) >= 2,
        ),
        (
            "the consent register is in, the other departments loading",
            lambda: _count(engine, "SELECT count(*) FROM privacy_consents") > 0,
        ),
    ]
    for n, (what, ready) in enumerate(points):
        proc = Process(args, killed, var, tmp_path / f"kill{n}.log")
        proc.freeze_when(ready, what=what)
        assert 0 <= _done(engine) < files, f"{what}: the load was over before the kill"
        proc.kill()
        wait_backends_gone(killed)
    with engine.connect() as conn:  # no batch was left half-loaded
        assert conn.scalar(sa.text("SELECT count(*) FROM ingest_batches WHERE status <> 'done'")) == 0
    engine.dispose()
    ctown(args, killed, var, timeout=600)
    assert_same(snapshot(killed, var / "keys.json"), expected)
    check_digests(killed)  # the digests left out of the comparison match their rows
    # and once more: everything is already loaded, nothing changes
    again = _load_in_process(killed, var, synth_county)
    assert again["already_loaded_files"] == files
    assert_same(snapshot(killed, var / "keys.json"), expected)


def _load_in_process(url: str, var: Path, county: Path) -> dict[str, object]:
    """The same load as the command (plan + run), without a second interpreter start-up."""
    from ctown.crypto import FieldCipher
    from ctown.ingest.tasks import plan, run

    engine = make_engine(url)
    planned, skipped = plan([county])
    totals = run(session_factory(engine), FieldCipher.load(var / "keys.json"), planned, skipped=skipped)
    engine.dispose()
    return totals.to_json()
