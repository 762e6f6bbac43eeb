"""``ctown backup`` / ``ctown restore`` (#12 item 12): a county restored from its archive into a
fresh database and var folder equals the original row by row, its ledger verifies and its key
ring opens it; every refusal (wrong passphrase, altered archive, non-empty target, newer schema,
different key files) comes before anything changes; a backup taken while another connection
writes is one instant."""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.factories import build_county

from ctown.backup import archive as fmt
from ctown.backup.archive import BackupRefused
from ctown.backup.databases import pg_environment
from ctown.backup.service import backup, restore
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.ledger import tasks
from ctown.migrate import upgrade
from ctown.privacy.keyring import KeyringError, open_cipher, opens
from ctown.settings import Settings

PASSPHRASE = "春耕 correct horse battery staple"
FAST = 1 << 14  # scrypt cost for the tests that call the service (the CLI uses the real 2^17)


def _county(url: str, var: Path, households: int = 2) -> Settings:
    """A migrated database holding a test county and its ledger (a checkpoint signed)."""
    settings = Settings(database_url=url, var_dir=var)
    engine = make_engine(url)
    upgrade(engine)
    cipher = open_cipher(settings, engine)  # makes the ring and binds the database to it
    with session_factory(engine).begin() as session:
        build_county(session, cipher, households=households)
        assert tasks.append_all(session, settings) > 0
    engine.dispose()
    return settings


def _tables(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, in primary-key order."""
    engine = make_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        found = {name: [dict(r) for r in conn.execute(sa.select(table).order_by(
            *(table.primary_key.columns or table.columns))).mappings()]
            for name, table in meta.tables.items()}
    engine.dispose()
    return found


def _ctown(args: list[str], url: str, var: Path, stdin: str | None = None,
           **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "CTOWN_BACKUP_PASSPHRASE"}
    full.update(CTOWN_DATABASE_URL=url, CTOWN_VAR_DIR=str(var), **env)
    return subprocess.run([sys.executable, "-m", "ctown", *args], env=full, input=stdin,
                          capture_output=True, text=True, timeout=600)


def test_restore_gives_back_the_same_county(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, var = db_factory.migrated_url(), tmp_path / "var"
    settings = _county(url, var)
    made = _ctown(["backup", str(tmp_path)], url, var, CTOWN_BACKUP_PASSPHRASE=PASSPHRASE)
    assert made.returncode == 0, made.stderr
    archive = Path(json.loads(made.stdout)["archive"])
    assert archive.parent == tmp_path and archive.name.startswith("ctown-backup-")
    assert not list(var.glob(".backup-*"))  # the plain copy is gone
    original = _tables(url)

    target, restored_var = db_factory.url(), tmp_path / "restored"
    done = _ctown(["restore", str(archive), "--passphrase-stdin"], target, restored_var,
                  stdin=PASSPHRASE + "\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["key_files_written"] == ["keys.json", "ledger.key"]

    restored = _tables(target)
    # One row more, on purpose: the restored database records that it was restored.
    added = [r for r in restored["audit_events"] if r not in original["audit_events"]]
    assert [(r["action"], r["target"]) for r in added] == [("backup.restore", archive.name)]
    restored["audit_events"] = [r for r in restored["audit_events"] if r not in added]
    assert set(restored) == set(original)
    # That row went on the ledger in its own commit (ctown.ledger.keeping): one leaf more and a
    # checkpoint over it; the original's checkpoints stay, and `ledger verify` below proves the
    # restored tree still has them as its prefix.
    ledger = ("ledger_log", "ledger_tiles", "ledger_entries", "ledger_checkpoints")
    assert restored["ledger_log"][0]["size"] == original["ledger_log"][0]["size"] + 1
    kept = restored["ledger_checkpoints"][:len(original["ledger_checkpoints"])]
    assert kept == original["ledger_checkpoints"]
    assert [c["tree_size"] for c in restored["ledger_checkpoints"][len(kept):]] == [
        original["ledger_log"][0]["size"] + 1]
    assert restored["ledger_entries"][:len(original["ledger_entries"])] == original[
        "ledger_entries"]
    for name in original:
        if name not in ledger:
            assert restored[name] == original[name], name
    # …and the comparison was not of empty tables.
    assert len(original["subjects"]) >= 6 and len(original["users"]) == 8
    assert original["ledger_checkpoints"] and original["keyring_binding"]
    assert [r["action"] for r in original["audit_events"]][-1] == "backup.create"

    verified = _ctown(["ledger", "verify", "--json"], target, restored_var)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert json.loads(verified.stdout)["ok"] is True
    for name in ("keys.json", "ledger.key"):
        assert (restored_var / name).read_bytes() == (var / name).read_bytes()
        assert (restored_var / name).stat().st_mode & 0o777 == 0o600
    cipher = open_cipher(Settings(database_url=target, var_dir=restored_var))
    assert cipher.fingerprint == FieldCipher.load(settings.keyring_path).fingerprint
    engine = make_engine(target)
    with engine.connect() as conn:
        assert opens(conn, cipher)  # the restored ring decrypts the restored identifiers
    engine.dispose()


def test_backup_needs_the_databases_own_keys(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, var = db_factory.migrated_url(), tmp_path / "var"
    settings = _county(url, var)
    engine = make_engine(url)
    other = tmp_path / "other"
    FieldCipher.load(other / "keys.json")  # a ring of its own, from another folder
    with pytest.raises(KeyringError, match="不属于该数据库"):
        backup(Settings(database_url=url, var_dir=other), engine, tmp_path / "a.tar", PASSPHRASE,
               scrypt_n=FAST)
    (tmp_path / "nokey").mkdir()
    shutil.copy(settings.keyring_path, tmp_path / "nokey" / "keys.json")  # the ring, no ledger key
    with pytest.raises(BackupRefused, match=r"ledger\.key 缺失或不是该数据库账本的签名密钥"):
        backup(Settings(database_url=url, var_dir=tmp_path / "nokey"), engine, tmp_path / "a.tar",
               PASSPHRASE, scrypt_n=FAST)
    with pytest.raises(BackupRefused, match="至少 12 个字符"):
        backup(settings, engine, tmp_path / "a.tar", "short", scrypt_n=FAST)
    assert not (tmp_path / "a.tar").exists()
    engine.dispose()


def test_postgresql_needs_its_client_programs_and_sqlite_does_not(  # type: ignore[no-untyped-def]
        db_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, var = db_factory.migrated_url(), tmp_path / "var"
    settings = _county(url, var, households=1)
    engine = make_engine(url)
    monkeypatch.setenv("PATH", str(tmp_path))  # no pg_dump, no pg_restore
    dest = tmp_path / "a.tar"
    if db_factory.backend == "postgresql":
        before = _tables(url)
        with pytest.raises(BackupRefused, match="找不到 PostgreSQL 客户端程序 pg_dump") as refused:
            backup(settings, engine, dest, PASSPHRASE, scrypt_n=FAST)
        assert "apt-get install postgresql-client" in refused.value.message.render("en")
        assert _tables(url) == before and not dest.exists()  # not even an audit row
    else:
        assert backup(settings, engine, dest, PASSPHRASE, scrypt_n=FAST).path == dest
    engine.dispose()


def test_the_connection_goes_through_the_environment() -> None:
    env = pg_environment("postgresql+psycopg://ctown:s3cr%40t@db.county:5433/credit?sslmode=verify-full")
    assert (env["PGHOST"], env["PGPORT"], env["PGUSER"], env["PGPASSWORD"], env["PGDATABASE"],
            env["PGSSLMODE"]) == ("db.county", "5433", "ctown", "s3cr@t", "credit", "verify-full")


# -- refusals, on one SQLite county backed up once -----------------------------------------------
@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    root = tmp_path_factory.mktemp("backup")
    settings = _county(f"sqlite:///{(root / 'county.sqlite3').as_posix()}", root / "var")
    engine = make_engine(settings.sqlalchemy_url)
    result = backup(settings, engine, root / "county.tar", PASSPHRASE, scrypt_n=FAST)
    engine.dispose()
    return settings, result.path


def _target(tmp_path: Path) -> tuple[Settings, sa.Engine]:
    settings = Settings(database_url=f"sqlite:///{(tmp_path / 't.sqlite3').as_posix()}",
                        var_dir=tmp_path / "tvar")
    return settings, make_engine(settings.sqlalchemy_url)


def _nothing_restored(settings: Settings) -> bool:
    engine = make_engine(settings.sqlalchemy_url)
    tables = sa.inspect(engine).get_table_names()
    engine.dispose()
    return tables == [] and not (settings.var_dir / "keys.json").exists()


def test_a_wrong_passphrase_is_told_as_such(made: tuple[Settings, Path], tmp_path: Path) -> None:
    _settings, archive = made
    target, _engine = _target(tmp_path)
    result = _ctown(["restore", str(archive), "--passphrase-stdin"], target.sqlalchemy_url,
                    target.var_dir, stdin="not the passphrase\n")
    assert result.returncode == 2
    assert "备份口令不对" in result.stderr and "Wrong backup passphrase" in result.stderr
    assert "Traceback" not in result.stderr
    assert _nothing_restored(target)
    missing = _ctown(["restore", str(archive)], target.sqlalchemy_url, target.var_dir)
    assert missing.returncode == 2 and "CTOWN_BACKUP_PASSPHRASE" in missing.stderr


def _rewrite(archive: Path, out: Path, change: Any) -> None:
    """Copy the tar with ``change(name, data) -> data`` applied to each member."""
    with tarfile.open(archive) as src, tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src.getmembers():
            data = change(member.name, src.extractfile(member).read())
            member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


def test_an_altered_archive_is_refused(made: tuple[Settings, Path], tmp_path: Path) -> None:
    _settings, archive = made
    target, engine = _target(tmp_path)
    flipped = tmp_path / "flipped.tar"
    shutil.copy(archive, flipped)
    with tarfile.open(flipped) as tar:
        offset = tar.getmember("database.sqlite3.enc").offset_data + 5000
    with flipped.open("r+b") as fh:  # one bit of the database part, in place
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 1]))
    with pytest.raises(BackupRefused, match=r"sha256 database\.sqlite3\.enc"):
        restore(target, engine, flipped, PASSPHRASE)

    def more_subjects(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["database"]["tables"]["subjects"] += 1
        return json.dumps(manifest).encode()

    _rewrite(archive, tmp_path / "counts.tar", more_subjects)
    with pytest.raises(BackupRefused, match=r"已被改动.*manifest.json"):
        restore(target, engine, tmp_path / "counts.tar", PASSPHRASE)

    (tmp_path / "junk.tar").write_bytes(b"\0" * 100 + b"not a tar")
    with pytest.raises(BackupRefused, match="不是 ctown 备份文件"):
        restore(target, engine, tmp_path / "junk.tar", PASSPHRASE)
    engine.dispose()
    assert _nothing_restored(target)


def test_a_non_empty_target_needs_force(made: tuple[Settings, Path], tmp_path: Path) -> None:
    source, archive = made
    target, engine = _target(tmp_path)
    restore(target, engine, archive, PASSPHRASE)
    with pytest.raises(BackupRefused, match="目标数据库不是空的") as refused:
        restore(target, engine, archive, PASSPHRASE)
    assert "--force" in refused.value.message.render("en")
    result = restore(target, engine, archive, PASSPHRASE, force=True)
    assert result.kept == ["keys.json", "ledger.key"] and result.written == []
    engine.dispose()
    restored = _tables(target.sqlalchemy_url)
    assert [r["action"] for r in restored["audit_events"]].count("backup.restore") == 1
    assert restored["subjects"] == _tables(source.sqlalchemy_url)["subjects"]


def test_different_key_files_in_the_target_are_not_overwritten(made: tuple[Settings, Path],
                                                                tmp_path: Path) -> None:
    _settings, archive = made
    target, engine = _target(tmp_path)
    FieldCipher.load(target.keyring_path)  # another county's ring already there
    before = target.keyring_path.read_bytes()
    with pytest.raises(BackupRefused, match="目标目录已有不同的"):
        restore(target, engine, archive, PASSPHRASE)
    engine.dispose()
    assert target.keyring_path.read_bytes() == before
    assert not (target.var_dir / "ledger.key").exists()
    assert sa.inspect(make_engine(target.sqlalchemy_url)).get_table_names() == []


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'future.sqlite3').as_posix()}"
    settings = Settings(database_url=url, var_dir=tmp_path / "var")
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:  # as if written by a later ctown
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    archive = backup(settings, engine, tmp_path / "future.tar", PASSPHRASE, scrypt_n=FAST).path
    engine.dispose()
    target, target_engine = _target(tmp_path)
    with pytest.raises(BackupRefused, match="9999_future 比本程序认识的更新"):
        restore(target, target_engine, archive, PASSPHRASE)
    target_engine.dispose()
    assert _nothing_restored(target)


def test_a_database_never_migrated_is_not_backed_up(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'blank.sqlite3').as_posix()}"
    engine = make_engine(url)
    with pytest.raises(BackupRefused, match="ctown db upgrade"):
        backup(Settings(database_url=url, var_dir=tmp_path / "var"), engine, tmp_path / "b.tar",
               PASSPHRASE, scrypt_n=FAST)
    engine.dispose()
    assert not (tmp_path / "b.tar").exists()


def test_a_backup_taken_while_another_connection_writes_is_one_instant(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'busy.sqlite3').as_posix()}"
    settings = Settings(database_url=url, var_dir=tmp_path / "var")
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:  # a writer's two tables, and enough pages for a copy that lasts
        conn.execute(sa.text("CREATE TABLE pairs (id INTEGER PRIMARY KEY, batch INTEGER)"))
        conn.execute(sa.text("CREATE TABLE pair_total (n INTEGER)"))
        conn.execute(sa.text("INSERT INTO pair_total VALUES (0)"))
        conn.execute(sa.text("CREATE TABLE ballast (b BLOB)"))
        conn.execute(sa.text("INSERT INTO ballast VALUES (:b)"), [{"b": os.urandom(64_000)}] * 400)
    stop, commits = threading.Event(), [0]

    def writer() -> None:  # 50 rows and the total in one transaction, as fast as it can
        db = sqlite3.connect(tmp_path / "busy.sqlite3", timeout=30)
        while not stop.is_set():
            with db:
                db.executemany("INSERT INTO pairs (batch) VALUES (?)", [(commits[0],)] * 50)
                db.execute("UPDATE pair_total SET n = n + 50")
            commits[0] += 1
        db.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while commits[0] < 3:
            stop.wait(0.01)
        started = commits[0]
        archive = backup(settings, engine, tmp_path / "busy.tar", PASSPHRASE, scrypt_n=FAST)
        during = commits[0] - started
    finally:
        stop.set()
        thread.join()
    engine.dispose()
    assert during > 0  # the writer was not held up by the backup
    target, target_engine = _target(tmp_path)
    restore(target, target_engine, archive.path, PASSPHRASE)
    target_engine.dispose()
    copy = sqlite3.connect(tmp_path / "t.sqlite3")
    rows, total = copy.execute("SELECT count(*) FROM pairs").fetchone()[0], copy.execute(
        "SELECT n FROM pair_total").fetchone()[0]
    batches = copy.execute("SELECT count(DISTINCT batch) FROM pairs").fetchone()[0]
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    copy.close()
    assert rows == total == 50 * batches > 0  # whole transactions only, the total agrees
    assert archive.manifest["database"]["tables"]["pairs"] == rows
    with sqlite3.connect(tmp_path / "busy.sqlite3") as live:
        assert live.execute("SELECT count(*) FROM pairs").fetchone()[0] > rows  # it went on


# -- the format ----------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [0, 1, fmt.CHUNK - 1, fmt.CHUNK, fmt.CHUNK + 1, 2 * fmt.CHUNK + 7])
def test_chunks_round_trip_and_a_truncated_part_does_not_decrypt(size: int) -> None:
    key, data = os.urandom(32), os.urandom(size)
    sealed = fmt.seal_bytes(key, "part", data)
    assert len(sealed) == fmt.sealed_size(size)
    assert fmt.open_bytes(key, "part", sealed) == data
    with pytest.raises(BackupRefused, match="已被改动"):
        fmt.open_bytes(key, "other part", sealed)  # a part moved under another name
    if size > fmt.CHUNK:  # the last chunk dropped: the one before it is not marked last
        with pytest.raises(BackupRefused, match="已被改动"):
            fmt.open_bytes(key, "part", sealed[:fmt.PREFIX + fmt.CHUNK + fmt.TAG])


def test_kdf_parameters_from_an_archive_are_bounded() -> None:
    good = fmt.Kdf.new().as_json()
    assert fmt.Kdf.from_json(good).n == 1 << 17
    for bad in ({**good, "n": 1 << 30}, {**good, "n": 1000}, {**good, "name": "pbkdf2"},
                {**good, "salt": "eA=="}, {k: v for k, v in good.items() if k != "r"}):
        with pytest.raises(BackupRefused, match="不是 ctown 备份文件"):
            fmt.Kdf.from_json(bad)
