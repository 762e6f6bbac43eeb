"""Database faults (#12 item 7) and two loads of one batch at once (#12 item 8).

PostgreSQL is stopped and started under a real ``ctown ingest`` and a real ``ctown serve`` — a
cluster of the test's own (``initdb`` in a temporary folder, its own port), never the shared
server. SQLite writers that meet at once wait for each other instead of failing with "database is
locked". Two loads of the same files, or two pushes of the same batch, load it once. Contents are
compared row by row with an uninterrupted load (:func:`content`), not by counts.
"""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tests.factories import VILLAGE_A, build_county
from tests.webutil import county_site, csrf_from, login

from ctown.capabilities import load_all_models
from ctown.collection import protocol
from ctown.collection.models import CollectionBatch
from ctown.collection.protocol import Record
from ctown.crypto import FieldCipher
from ctown.db import Base, make_engine, session_factory, transaction
from ctown.migrate import upgrade

pytestmark = pytest.mark.slow
CTOWN = [sys.executable, "-c", "from ctown.cli import main; main()"]


# -- a PostgreSQL cluster of the test's own ------------------------------------------------------


class Cluster:
    """``initdb`` into a temporary folder, served on a free port of 127.0.0.1 (and a socket in
    that folder), stopped and started with ``pg_ctl``. Run as ``postgres`` when we are root."""

    def __init__(self) -> None:
        found = sorted(
            glob.glob(os.environ.get("CTOWN_TEST_PG_BIN", "") + "/initdb")
            or glob.glob("/usr/lib/postgresql/*/bin/initdb")
        )
        assert found, "initdb not found: install PostgreSQL's server (or set CTOWN_TEST_PG_BIN)"
        self.bin = Path(found[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="ctown-pg-"))
        self.owner: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            os.chown(self.root, pwd.getpwnam("postgres").pw_uid, -1)
            self.owner = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._run(
            "initdb",
            "-D",
            str(self.root / "data"),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self.owner, str(self.bin / tool), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{tool} {args}: {done.stdout}{done.stderr}"

    def _ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.root / "data"), "-w", "-t", "60", *args)

    def start(self) -> None:
        self._ctl(
            "start",
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
        )

    def stop(self) -> None:
        self._ctl("stop", "-m", "fast")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self, name: str) -> str:
        """A new, migrated database of the cluster."""
        admin = make_engine(self.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        engine = make_engine(self.url(name))
        upgrade(engine)
        engine.dispose()
        return self.url(name)

    def remove(self) -> None:
        subprocess.run(
            [*self.owner, str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "stop", "-m", "immediate"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    own = Cluster()
    try:
        yield own
    finally:
        own.remove()


# -- the county, the command, and what a database holds ------------------------------------------


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ctown.synth.generator import generate

    out = tmp_path_factory.mktemp("county") / "c"
    generate(households=200, seed=11, out=out)
    return out


def _env(url: str, var: Path) -> dict[str, str]:
    return {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var)}


def _ingest(county: Path) -> list[str]:
    return [*CTOWN, "ingest", str(county), "--json"]


def _load(url: str, var: Path, county: Path) -> dict[str, Any]:
    """An uninterrupted ``ctown ingest`` (the reference); its summary."""
    done = subprocess.run(
        _ingest(county), env=_env(url, var), capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


#: Columns that differ between two uninterrupted loads of the same files, besides the times:
#: digests over a row *with its time* (the times themselves are left out).
TIMED_DIGESTS = {"indicator_values.digest", "change_events.digest"}


def _plain(cipher: FieldCipher) -> dict[str, Any]:
    """Ciphertexts (a fresh nonce each time) as their clear text, by the AAD of their row."""
    from ctown.ingest.consents import reject_aad
    from ctown.ingest.hold import held_aad
    from ctown.ingest.pipeline import quarantine_aad
    from ctown.registry.service import subject_aad

    def subject(column: str) -> Any:
        return lambda r: subject_aad(column, r["id_index"])

    return {
        "subjects.id_cipher": subject("id_cipher"),
        "subjects.phone_cipher": subject("phone_cipher"),
        "quarantined_rows.payload": lambda r: quarantine_aad(r["batch_id"], r["seq"]),
        "ingest_held_values.value": lambda r: held_aad(
            r["batch_id"], r["seq"], r["indicator_code"], r["subject_id"]
        ),
        "ingest_consent_rejects.payload": lambda r: reject_aad(r["file_sha256"], r["row_no"]),
    }


#: The ledger's tables: their hashes cover rows with their times, different in any two loads
#: (``ctown ledger verify`` checks them instead).
LEDGER = "ledger_"
#: Audit targets that name a row by its id ("consent 17"), and the table of that id.
AUDIT_TARGETS = {"consent": "privacy_consents"}


def _audit_ids(row: dict[str, Any], rank: dict[str, dict[int, int]]) -> None:
    """Ids the audit writes into its text and JSON, as ranks too."""
    kind, _sep, number = str(row["target"]).partition(" ")
    if kind in AUDIT_TARGETS and number.isdigit():
        row["target"] = f"{kind} #{rank[AUDIT_TARGETS[kind]][int(number)]}"
    detail = row.get("detail")
    if isinstance(detail, dict) and isinstance(detail.get("subject_id"), int):
        row["detail"] = {**detail, "subject_id": f"#{rank['subjects'][detail['subject_id']]}"}


#: Integer columns that hold the id of a row without a foreign key to it (history tables keep
#: their ids when the row goes), by name.
IMPLICIT = {
    **dict.fromkeys(
        [
            "batch_id",
            "since_batch_id",
            "upto_batch_id",
            "resolved_batch_id",
            "credit_batch_id",
            "result_batch_id",
        ],
        "ingest_batches",
    ),
    **dict.fromkeys(["subject_id", "household_id"], "subjects"),
    **dict.fromkeys(
        ["user_id", "actor_id", "raised_by_id", "answered_by_id", "granted_by_id", "revoked_by_id"], "users"
    ),
    "consent_id": "privacy_consents",
}


def _referenced(table: str, col: sa.Column[Any]) -> str | None:
    """The table whose id ``col`` holds, if it holds one."""
    if col.primary_key:
        return table
    fks = [fk.column.table.name for fk in col.foreign_keys]
    if fks:
        return fks[0]
    return IMPLICIT.get(col.name) if isinstance(col.type, sa.Integer) else None


def content(url: str, cipher: FieldCipher) -> dict[str, list[str]]:
    """Every row of every table, comparable across databases: times left out, ciphertexts
    decrypted, and ids (which a rolled-back load leaves gaps in, on PostgreSQL) replaced by
    their rank in their table — in a primary key and in every foreign key to it."""
    load_all_models()
    aad = _plain(cipher)
    engine = make_engine(url)
    tables: dict[str, list[str]] = {}
    with engine.connect() as conn:
        rank: dict[str, dict[int, int]] = {}
        for table in Base.metadata.sorted_tables:
            pk = list(table.primary_key.columns)
            if len(pk) == 1 and isinstance(pk[0].type, sa.Integer):
                ids = conn.scalars(sa.select(pk[0]).order_by(pk[0])).all()
                rank[table.name] = {v: i for i, v in enumerate(ids)}
        for table in Base.metadata.sorted_tables:
            if table.name.startswith(LEDGER):
                continue
            rows = []
            for raw in conn.execute(sa.select(table)).mappings():
                row = {}
                for col in table.columns:
                    name, value = col.name, raw[col.name]
                    timed = isinstance(getattr(col.type, "impl", col.type), sa.DateTime)
                    if timed or f"{table.name}.{name}" in TIMED_DIGESTS:
                        continue
                    if f"{table.name}.{name}" in aad and value is not None:
                        value = cipher.decrypt(value, aad[f"{table.name}.{name}"](raw))
                    target = _referenced(table.name, col)
                    if target in rank and value is not None:
                        value = f"#{rank[target][value]}"
                    row[name] = value
                if table.name == "audit_events":
                    _audit_ids(row, rank)
                rows.append(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str))
            if rows:
                tables[table.name] = sorted(rows)
    engine.dispose()
    return tables


def _done_batches(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.text("SELECT count(*) FROM ingest_batches WHERE status = 'done'")) or 0


# -- (a) PostgreSQL restarted during a load ------------------------------------------------------


def test_a_load_cut_by_a_restart_fails_cleanly_and_a_rerun_converges(
    cluster: Cluster, county: Path, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    reference, cut = cluster.database("reference"), cluster.database("cut")
    summary = _load(reference, var, county)
    cipher = FieldCipher.load(var / "keys.json")
    expected = content(reference, cipher)
    load = subprocess.Popen(
        _ingest(county), env=_env(cut, var), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        watch = make_engine(cut)
        deadline = time.monotonic() + 240
        while _done_batches(watch) < 1 and load.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the first files (the register departments) are committed
        watch.dispose()
        assert load.poll() is None, "the load finished before the database could be stopped"
        cluster.stop()
        out, err = load.communicate(timeout=120)
    finally:
        if load.poll() is None:
            load.kill()
        cluster.start()
    # It stops at once, with one line in both languages and the advice to run it again.
    assert load.returncode == 2, (out, err)
    assert "数据库暂时无法使用" in err and "run the same command again" in err, err
    assert "Traceback" not in err and not out
    watch = make_engine(cut)
    assert _done_batches(watch) < summary["files"]  # it was cut in the middle
    watch.dispose()
    rerun = subprocess.run(
        _ingest(county), env=_env(cut, var), capture_output=True, text=True, timeout=600, check=False
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout)["already_loaded_files"] > 0
    assert content(cut, cipher) == expected
    verify = subprocess.run(
        [*CTOWN, "ledger", "verify"],
        env=_env(cut, var),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout[-1000:] + verify.stderr[-1000:]


# -- (b) PostgreSQL stopped and started under a running server -----------------------------------


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None) -> tuple[int, Any, str]:
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def test_the_server_answers_503_while_the_database_is_down_and_recovers(
    cluster: Cluster, tmp_path: Path
) -> None:
    url = cluster.database("serving")
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        build_county(session, FieldCipher.load(tmp_path / "keys.json"), passwords=True)
    engine.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen(
        [*CTOWN, "serve", "--port", str(port)], env=_env(url, tmp_path), stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _get(f"{base}/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        assert _get(f"{base}/healthz")[0] == 200
        login_body = json.dumps({"username": "admin", "password": "pw-admin-123"}).encode()
        json_in = {"Content-Type": "application/json"}
        token = json.loads(_get(f"{base}/api/v1/auth/token", json_in, login_body)[2])
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        page = {**bearer, "Accept": "text/html"}
        assert _get(f"{base}/households", page)[0] == 200
        me = _get(f"{base}/api/v1/me", bearer)
        assert me[0] == 200, (token, me)

        cluster.stop()
        try:
            status, _h, body = _get(f"{base}/healthz")
            assert status == 503 and json.loads(body)["status"] == "error"
            status, headers, html = _get(f"{base}/households", page)
            assert status == 503 and headers["Retry-After"]
            assert "请稍后再试" in html and "<html" in html and "Traceback" not in html
            assert "Content-Security-Policy" in headers  # the page of the app, hardened
            status, _h, html = _get(f"{base}/households?lang=en", page)
            assert status == 503 and "please try again later" in html
            status, _h, body = _get(f"{base}/api/v1/me", bearer)
            detail = json.loads(body)["detail"]
            assert status == 503 and "请稍后再试" in detail["zh"] and "try again" in detail["en"]
            # the login asks the database in the middleware (rate limits): the same answer
            status, _h, body = _get(f"{base}/api/v1/auth/token", json_in, login_body)
            assert status == 503 and "try again" in json.loads(body)["detail"]["en"]
        finally:
            cluster.start()
        # The same server answers again: pooled connections to the old server are replaced.
        assert server.poll() is None
        assert _get(f"{base}/healthz")[0] == 200
        status, _h, html = _get(f"{base}/households", page)
        assert status == 200 and "请稍后再试" not in html
        assert _get(f"{base}/api/v1/me", bearer)[0] == 200
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


# -- (c) SQLite writers at once: they queue, none meets "database is locked" ---------------------


def test_concurrent_uploads_wait_for_the_write_lock(db_factory: Any, tmp_path: Path) -> None:
    """Eight collection uploads at once while another transaction holds the write lock: all
    are accepted. On SQLite each upload writes in a savepoint; before ``ctown.db`` opened such
    transactions for writing, 6–7 of 8 failed at once with "database is locked"."""
    url = db_factory.migrated_url()
    with county_site(url, tmp_path) as client:
        login(client, "village", "pw-village-123")
        key = Ed25519PrivateKey.generate()
        enrolled = client.post(
            "/api/v1/collection/enrol",
            headers={"x-csrf-token": csrf_from(client.get("/").text)},
            json={"public_key": protocol.b64e(protocol.raw_public(key.public_key())), "name": "t"},
        )
        assert enrolled.status_code == 200, enrolled.text
        client.cookies.clear()
        county_key = protocol.parse_x25519_public(
            client.get("/api/v1/collection/county-key").json()["public_key"]
        )
        household = f"H{VILLAGE_A[-6:]}00000"
        envelopes = [
            protocol.pack(
                [Record(household, "I1101", str(i % 5 + 1), "2026-11-01", "王")],
                terminal_key=key,
                county_key=county_key,
            )
            for i in range(8)
        ]
        engine = make_engine(url)
        holding, answers = threading.Event(), []

        def other_writer() -> None:  # a load's transaction, say: it writes, then works on
            with session_factory(engine).begin() as session:
                session.execute(sa.text("UPDATE regions SET name = name WHERE code = :c"), {"c": VILLAGE_A})
                holding.set()
                time.sleep(1.5)

        def upload(envelope: bytes) -> None:
            try:
                answers.append(client.post("/api/v1/collection/batches", content=envelope).status_code)
            except sa.exc.OperationalError as exc:  # what the server would answer 500 with
                answers.append(str(exc.orig))

        writer = threading.Thread(target=other_writer)
        writer.start()
        assert holding.wait(30)
        uploads = [threading.Thread(target=upload, args=(e,)) for e in envelopes]
        for t in uploads:
            t.start()
        for t in [*uploads, writer]:
            t.join(timeout=120)
        with engine.connect() as conn:
            stored = conn.scalar(sa.select(sa.func.count()).select_from(CollectionBatch))
        engine.dispose()
    assert answers == [200] * 8
    assert stored == 8


# -- (d) two loads of the same batch at once -----------------------------------------------------


def test_two_loads_of_the_same_files_at_once_load_them_once(
    db_factory: Any, county: Path, tmp_path: Path
) -> None:
    var = tmp_path / "var"
    reference, twice = db_factory.migrated_url(), db_factory.migrated_url()
    summary = _load(reference, var, county)
    loads = [
        subprocess.Popen(
            _ingest(county), env=_env(twice, var), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=600) for p in loads]
    assert [p.returncode for p in loads] == [0, 0], [err[-2000:] for _o, err in results]
    totals = sorted((json.loads(out) for out, _e in results), key=lambda t: t["accepted"])
    # One loaded everything; the other waited for it and found every file loaded.
    assert totals[1]["accepted"] == summary["accepted"] and totals[1]["failed_files"] == 0
    assert totals[0]["already_loaded_files"] == summary["files"] and totals[0]["accepted"] == 0
    assert totals[0]["regions"]["collectives_created"] == 0
    assert any("another load of this database is running" in err for _o, err in results)
    cipher = FieldCipher.load(var / "keys.json")
    assert content(twice, cipher) == content(reference, cipher)


def _feed_world(url: str, var: Path) -> list[str]:
    """The household register and a bank with two push keys in force (its two sending systems,
    or the old and the new key of a rotation)."""
    from ctown.ingest.feeds import add_department, issue_key
    from ctown.ingest.service import load_file
    from test_ingest_support import consent_all, seed_regions, write_county

    files = write_county(var.parent / "feeds")
    engine = make_engine(url)
    with transaction(session_factory(engine)) as s:
        seed_regions(s)
        load_file(s, FieldCipher.load(var / "keys.json"), files / "psb" / "psb_1.csv", "psb")
        consent_all(s)
        add_department(s, None, code="bank", name="县农商银行")
        keys = [issue_key(s, None, "bank").key for _ in range(2)]
    engine.dispose()
    return keys


def _credit_rows(url: str) -> list[tuple[Any, ...]]:
    """The values the bank's batch wrote, by the subject's blind index (not its id)."""
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.id_index, v.indicator_code, v.value_num, v.value_text, v.observed_on "
                "FROM indicator_values v JOIN subjects s ON s.id = v.subject_id "
                "JOIN ingest_batches b ON b.id = v.batch_id WHERE b.department = 'bank'"
            )
        ).all()
    engine.dispose()
    return sorted(tuple(map(str, r)) for r in rows)


def test_the_same_batch_pushed_twice_at_once_is_loaded_once(db_factory: Any, tmp_path: Path) -> None:
    from test_ingest_support import HEAD1, HEAD2
    from webutil import make_app_client

    start = dt.date(2020, 1, 1)
    rows = [
        {
            "客户证件号码": (HEAD1, HEAD2)[i % 2],
            "贷款余额（元）": str(1000 + i),
            "数据日期": (start + dt.timedelta(days=i // 2)).isoformat(),
        }
        for i in range(3000)
    ]
    reference, raced = db_factory.migrated_url(), db_factory.migrated_url()
    var = tmp_path / "var"
    key_ref = _feed_world(reference, var)[0]
    keys = _feed_world(raced, var)
    body = {"batch_id": "2025-06-b1", "rows": rows}
    with make_app_client(reference, var) as client:
        once = client.post(
            "/api/v1/feeds/bank/batches", json=body, headers={"Authorization": f"Bearer {key_ref}"}
        )
        assert once.status_code == 200, once.text
    answers: list[Any] = []
    with make_app_client(raced, var) as client:
        ready = threading.Barrier(2)

        def push(key: str) -> None:  # with a key each: a key's row is no lock they share
            ready.wait()
            answers.append(
                client.post(
                    "/api/v1/feeds/bank/batches", json=body, headers={"Authorization": f"Bearer {key}"}
                )
            )

        pushes = [threading.Thread(target=push, args=(k,)) for k in keys]
        for t in pushes:
            t.start()
        for t in pushes:
            t.join(timeout=300)
    assert [a.status_code for a in answers] == [200, 200], [a.text[:500] for a in answers]
    assert sorted(a.json()["resent"] for a in answers) == [False, True]
    assert answers[0].json()["rows"] == answers[1].json()["rows"] == once.json()["rows"]
    engine = make_engine(raced)
    with engine.connect() as conn:
        assert (
            conn.scalar(sa.text("SELECT count(*) FROM ingest_batches WHERE external_id = '2025-06-b1'")) == 1
        )
    engine.dispose()
    assert _credit_rows(raced) == _credit_rows(reference)
