"""Tools of the crash tests (#12 item 6): a real ``ctown`` process killed with SIGKILL at a chosen
point, and the contents of a database in a form in which two runs of the same work compare.

Choosing the point. A kill is only worth something if it lands where the test says it does, so
the points are made deterministic where the databases allow it:

- :func:`hold_writes`: the test holds the write lock itself (SQLite: the database's one write
  lock; PostgreSQL: ``EXCLUSIVE`` on named tables, which lets reads through and blocks writes), so
  the process cannot commit past that point however fast it runs; :func:`waiting_for_lock` tells
  when its PostgreSQL backend blocks on it.
- :meth:`Process.freeze_when`: the process is stopped (SIGSTOP) the moment a condition holds (it
  has written rows it has not committed, :func:`writing`; some rows are done), the committed state
  is checked while it cannot move, then it is killed: what the check saw is what the kill left.

The processes' PostgreSQL connections are named by ``PGAPPNAME`` (libpq reads it), which is how
the test finds their backends: no hook in the product.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ctown.capabilities import load_all_models
from ctown.crypto import FieldCipher
from ctown.db import Base, UTCDateTime, make_engine

CTOWN = [sys.executable, "-c", "from ctown.cli import main; main()"]
APP_NAME = "ctown-crash-test"


def env(url: str, var: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "CTOWN_DATABASE_URL": url,
        "CTOWN_VAR_DIR": str(var),
        "PGAPPNAME": APP_NAME,
        **extra,
    }


def ctown(args: list[str], url: str, var: Path, timeout: float = 300) -> str:
    """Run a command to its end; its standard output (it must succeed)."""
    done = subprocess.run(
        [*CTOWN, *args], env=env(url, var), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, (args, done.returncode, done.stderr[-3000:])
    return done.stdout


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> str:
    return str(sa.engine.make_url(url).database)


# -- processes -----------------------------------------------------------------------------------


class Process:
    """A ``ctown`` command started in the background, to be killed."""

    def __init__(self, args: list[str], url: str, var: Path, log: Path) -> None:
        self.url, self.log = url, log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*CTOWN, *args], env=env(url, var), stdout=out, stderr=subprocess.STDOUT
            )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_for(self, ready: Callable[[], bool], timeout: float = 120, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert self.alive(), f"the process ended before {what}: {self.output()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.003)

    def freeze_when(self, ready: Callable[[], bool], timeout: float = 120, what: str = "") -> None:
        """Stop the process (SIGSTOP) as soon as ``ready()`` holds."""
        self.wait_for(ready, timeout, what)
        os.kill(self.proc.pid, signal.SIGSTOP)

    def kill(self) -> None:
        """SIGKILL. On PostgreSQL its backends roll back once they notice (one waiting for the
        test's lock only when the lock is released): then :func:`wait_backends_gone`."""
        assert self.alive(), f"the process ended before it could be killed: {self.output()}"
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        assert self.proc.returncode == -signal.SIGKILL

    def stop(self) -> None:
        """A clean stop (SIGTERM), as an operator ends the server."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        wait_backends_gone(self.url)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def wait_backends_gone(url: str, timeout: float = 30) -> None:
    """PostgreSQL: wait until the killed process's backends have rolled back and left."""
    if is_sqlite(url):
        return
    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while _backends(engine) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _backends(engine), "a killed process's backend is still there"
    finally:
        engine.dispose()


def _backends(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                    "AND datname = current_database()"
                ),
                {"app": APP_NAME},
            )
            or 0
        )


# -- where the process is ------------------------------------------------------------------------


class Probe:
    """Asks the database whether the process under test is in a transaction that has written
    rows, not committed yet (SQLite: someone holds the write lock; PostgreSQL: one of its
    backends has a transaction id, given at the first write)."""

    def __init__(self, url: str) -> None:
        self.sqlite = is_sqlite(url)
        if self.sqlite:
            self.conn = sqlite3.connect(sqlite_path(url), timeout=0, isolation_level=None)
        else:
            self.engine = make_engine(url, isolation_level="AUTOCOMMIT")
            self.pg = self.engine.connect()

    def writing(self, table: str | None = None) -> bool:
        """(PostgreSQL: ``table`` names the table it must have written.)"""
        if self.sqlite:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # "database is locked": a writer is mid-transaction
                return True
            self.conn.execute("ROLLBACK")
            return False
        lock = (
            "l.locktype = 'relation' AND l.relation = CAST(:table AS regclass) "
            "AND l.mode = 'RowExclusiveLock'"
            if table
            else "l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock'"
        )
        return bool(
            self.pg.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                    f"WHERE a.application_name = :app AND l.granted AND {lock}"
                ),
                {"app": APP_NAME, "table": table},
            )
        )

    def waiting_for_lock(self) -> bool:
        """PostgreSQL: one of the process's backends waits for a lock (the test's)."""
        assert not self.sqlite, "SQLite does not tell who waits for its write lock"
        return bool(
            self.pg.scalar(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = :app "
                    "AND wait_event_type = 'Lock'"
                ),
                {"app": APP_NAME},
            )
        )

    def close(self) -> None:
        if self.sqlite:
            self.conn.close()
        else:
            self.pg.close()
            self.engine.dispose()


@contextmanager
def probe(url: str) -> Iterator[Probe]:
    p = Probe(url)
    try:
        yield p
    finally:
        p.close()


@contextmanager
def hold_writes(url: str, tables: tuple[str, ...]) -> Iterator[None]:
    """Hold the write lock: SQLite the database's (``tables`` do not matter), PostgreSQL
    ``EXCLUSIVE`` on ``tables`` (reads go on, every write to them waits)."""
    if is_sqlite(url):
        conn = sqlite3.connect(sqlite_path(url), timeout=30, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = make_engine(url)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(sa.text(f"LOCK TABLE {', '.join(tables)} IN EXCLUSIVE MODE"))
            yield
    finally:
        engine.dispose()


# -- copies of a database ------------------------------------------------------------------------


def clone(db_factory: Any, url: str, var: Path, into: Path) -> tuple[str, Path]:
    """A copy of the database at ``url`` (no connection may be open to it on PostgreSQL) and of
    its ``var`` folder (key ring, ledger key): the same starting point for two runs."""
    copy = db_factory.url()  # a name the factory drops at the end
    if is_sqlite(url):
        with sqlite3.connect(sqlite_path(url)) as src, sqlite3.connect(sqlite_path(copy)) as dst:
            src.backup(dst)
    else:
        wait_backends_gone(url)  # a template database must have no connection
        name, source = sa.engine.make_url(copy).database, sa.engine.make_url(url).database
        admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{source}"'))
        admin.dispose()
    shutil.copytree(var, into)
    return copy, into


# -- contents ------------------------------------------------------------------------------------
#
# What two runs of the same work may legitimately differ in, and nothing else:
# - surrogate ids: PostgreSQL sequences do not roll back, so a killed transaction leaves a gap.
#   Each id is replaced by its rank among the table's ids, and each reference to it (foreign keys,
#   the credit file's plain id columns, ids written into text) by the rank of the row it names;
#   rows created in the same order get the same ranks, whatever the gaps.
# - the times the work ran at (created_at, recorded_at, a run's seconds…): only whether the time
#   is set is compared (sent or not, finished or not). Times that are data (a consent's
#   valid_until, from the signed form) are compared as they are.
# - ciphertexts: a fresh nonce each time, and after a rotation another key. Each is compared as
#   (key version, plaintext), decrypted with the run's own key ring — a value that no longer
#   decrypts fails the comparison.
# - digests over a record that holds ids and times (a value's, a change event's): they are left
#   out here and checked against their rows instead (:func:`check_digests`).
# - the ledger's hashes and the order of its leaves: its leaves hash those same records, and each
#   commit appends its own records, so where a run was cut decides the order. Compared: the log
#   (origin, key, size), the set of records on it (kind and the rank of each), the checkpoints'
#   sizes; ``ctown ledger verify`` checks the hashes. Two runs that append the same records from
#   a copy of one database (the checkpoint test) compare everything (``ledger_hashes``).

#: Plain integer columns that hold another table's id (no foreign key, for load speed).
REFERENCES = {
    ("indicator_values", "subject_id"): "subjects",
    ("indicator_values", "batch_id"): "ingest_batches",
    ("current_values", "subject_id"): "subjects",
    ("current_values", "batch_id"): "ingest_batches",
    ("ingest_record_keys", "batch_id"): "ingest_batches",
    ("ingest_held_values", "subject_id"): "subjects",
    ("ingest_held_values", "household_id"): "subjects",
    ("ingest_held_values", "batch_id"): "ingest_batches",
    ("quarantined_rows", "resolved_batch_id"): "ingest_batches",
    ("pending_matches", "result_batch_id"): "ingest_batches",
    ("scoring_runs", "since_batch_id"): "ingest_batches",
    ("scoring_runs", "upto_batch_id"): "ingest_batches",
    ("privacy_credit_queries", "subject_id"): "subjects",
    ("privacy_negative_notices", "subject_id"): "subjects",
    ("privacy_objections", "subject_id"): "subjects",
    ("privacy_complaints", "subject_id"): "subjects",
}
#: Times that are data, not the moment the work ran.
DATA_TIMES = {
    ("privacy_consents", "valid_until"),
    ("proxy_mandates", "valid_until"),
    ("api_tokens", "expires_at"),
}
#: Left out: a duration, and digests checked by :func:`check_digests`.
LEFT_OUT = {("scoring_runs", "seconds"), ("indicator_values", "digest"), ("change_events", "digest")}


def _ciphertexts() -> dict[tuple[str, str], Callable[[dict[str, Any]], str]]:
    """Every column the field cipher writes, with the associated data of its row."""
    from ctown.channels.service import reply_aad
    from ctown.feedback.service import row_aad as feedback_aad
    from ctown.ingest.consents import reject_aad
    from ctown.ingest.hold import held_aad
    from ctown.ingest.pipeline import quarantine_aad
    from ctown.notify.address import outbox_aad
    from ctown.registry.service import subject_aad

    return {
        ("subjects", "id_cipher"): lambda r: subject_aad("id_cipher", r["id_index"]),
        ("subjects", "phone_cipher"): lambda r: subject_aad("phone_cipher", r["id_index"]),
        ("quarantined_rows", "payload"): lambda r: quarantine_aad(r["batch_id"], r["seq"]),
        ("ingest_held_values", "value"): lambda r: held_aad(
            r["batch_id"], r["seq"], r["indicator_code"], r["subject_id"]
        ),
        ("ingest_consent_rejects", "payload"): lambda r: reject_aad(r["file_sha256"], r["row_no"]),
        # Farmers' channels (#13): a reply's own address, the replies kept for replayed SMS,
        # feedback and its answer.
        ("notify_outbox", "address_cipher"): lambda r: outbox_aad(int(r["id"])),
        ("channels_sms_inbound", "reply_cipher"): lambda r: reply_aad("reply_cipher", r),
        ("feedback_items", "text_cipher"): lambda r: feedback_aad("text_cipher", r),
        ("feedback_items", "answer_cipher"): lambda r: feedback_aad("answer_cipher", r),
    }


Snapshot = dict[str, list[tuple[Any, ...]]]


def snapshot(url: str, keyring: Path, *, ledger_hashes: bool = False) -> Snapshot:
    """Every table's rows, as sorted tuples of comparable values (see above)."""
    load_all_models()
    assert keyring.exists(), keyring  # FieldCipher.load would make a new ring
    cipher = FieldCipher.load(keyring)
    engine = make_engine(url)
    with engine.connect() as conn:
        raw = {
            t.name: [dict(r) for r in conn.execute(sa.select(t)).mappings()]
            for t in Base.metadata.sorted_tables
        }
    engine.dispose()
    ranks = {
        name: {row["id"]: i for i, row in enumerate(sorted(rows, key=lambda r: r["id"]))}
        for name, rows in raw.items()
        if _ranked(Base.metadata.tables[name])
    }
    ciphers = _ciphertexts()
    out: Snapshot = {}
    for table in Base.metadata.sorted_tables:
        refs = {
            **{
                c.name: next(iter(c.foreign_keys)).column.table.name
                for c in table.columns
                if c.foreign_keys and c.name != "id"
            },
            **{col: target for (t, col), target in REFERENCES.items() if t == table.name},
        }
        refs = {col: target for col, target in refs.items() if target in ranks}
        rows = []
        for row in raw[table.name]:
            values = []
            for col in table.columns:
                key = (table.name, col.name)
                value = row[col.name]
                if key in LEFT_OUT:
                    continue
                if key in ciphers and value is not None:
                    value = (FieldCipher.version_of(value), cipher.decrypt(value, ciphers[key](row)))
                elif col.name == "id" and table.name in ranks:
                    value = ranks[table.name][value]
                elif col.name in refs and value is not None:
                    value = ranks[refs[col.name]].get(value, ("missing", value))
                elif _is_time(col) and key not in DATA_TIMES:
                    value = value is not None
                values.append(_special(table.name, col.name, value, ranks))
            rows.append(tuple(values))
        out[table.name] = sorted(rows, key=repr)
    if not ledger_hashes:
        _ledger_as_records(out, raw, ranks)
    return out


def _ledger_as_records(
    out: Snapshot, raw: dict[str, list[dict[str, Any]]], ranks: dict[str, dict[Any, int]]
) -> None:
    from ctown.ledger.sources import all_sources

    tables = {kind: source.table.name for kind, source in all_sources().items()}
    leaves = []
    for entry in raw["ledger_entries"]:
        refs = entry["refs"]
        for i in range(0, len(refs), 8):
            ref = int.from_bytes(refs[i : i + 8], "big")
            leaves.append((entry["kind"], ranks[tables[entry["kind"]]].get(ref, ("missing", ref))))
    out["ledger_entries"] = sorted(leaves, key=repr)
    out["ledger_tiles"] = []
    out["ledger_checkpoints"] = sorted((c["tree_size"],) for c in raw["ledger_checkpoints"])


def _ranked(table: sa.Table) -> bool:
    pk = list(table.primary_key.columns)
    return len(pk) == 1 and pk[0].name == "id" and _python_type(pk[0]) is int


def _python_type(col: sa.Column[Any]) -> type | None:
    try:
        return col.type.python_type
    except NotImplementedError:  # a type without one
        return None


def _is_time(col: sa.Column[Any]) -> bool:
    return isinstance(col.type, UTCDateTime | sa.DateTime)


_SUBJECT_IDS_IN_JSON = {("audit_events", "detail"), ("change_events", "payload")}
_SUBJECT_KEYS = {"subject_id", "household_id"}
_TARGET = re.compile(r"^consent (\d+)$")
_SOURCE = re.compile(r"^(ingest:\w+:)(\d+)$")


def _special(table: str, column: str, value: Any, ranks: dict[str, dict[Any, int]]) -> Any:
    """Ids written into text and JSON, and JSON made comparable."""
    if table == "audit_events" and column == "target" and (m := _TARGET.match(value)):
        value = f"consent #{ranks['privacy_consents'].get(int(m.group(1)))}"
    elif (table, column) in _SUBJECT_IDS_IN_JSON and isinstance(value, dict):
        value = {
            k: ranks["subjects"].get(v) if k in _SUBJECT_KEYS and isinstance(v, int) else v
            for k, v in value.items()
        }
    elif table == "change_events" and column == "source" and (m := _SOURCE.match(value)):
        value = f"{m.group(1)}#{ranks['ingest_batches'].get(int(m.group(2)))}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return value


def column(table: str, name: str) -> int:
    """Where column ``name`` is in the rows :func:`snapshot` gives for ``table``."""
    load_all_models()
    names = [c.name for c in Base.metadata.tables[table].columns if (table, c.name) not in LEFT_OUT]
    return names.index(name)


def assert_same(got: Snapshot, expected: Snapshot) -> None:
    """Equal contents, table by table; a difference names the table and some of its rows."""
    differ = []
    for table in sorted(expected):
        if got.get(table) != expected[table]:
            extra = [repr(r)[:400] for r in got.get(table, []) if r not in expected[table]][:3]
            missing = [repr(r)[:400] for r in expected[table] if r not in got.get(table, [])][:3]
            differ.append(
                f"{table}: {len(got.get(table, []))} rows, expected "
                f"{len(expected[table])}; extra {extra}; missing {missing}"
            )
    assert not differ, "\n".join(differ)


def check_digests(url: str) -> None:
    """Each value's and each change event's digest matches the row it is stored with."""
    from sqlalchemy.orm import Session

    from ctown.ingest.digest import verify
    from ctown.ingest.models import IndicatorValue
    from ctown.registry.events import digest, event_record
    from ctown.registry.models import ChangeEvent

    engine = make_engine(url)
    with Session(engine) as session:
        assert all(verify(session.scalars(sa.select(IndicatorValue))))
        for e in session.scalars(sa.select(ChangeEvent)):
            record = event_record(
                occurred_at=e.occurred_at,
                subject_id=e.subject_id,
                actor_id=e.actor_id,
                source=e.source,
                action=e.action,
                entity=e.entity,
                payload=e.payload,
            )
            assert digest(record) == e.digest, (e.id, e.source)
    engine.dispose()
