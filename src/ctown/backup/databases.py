"""The database part of a backup: a consistent copy out, a copy into an empty database.

SQLite: the online backup API (``sqlite3.Connection.backup``) in one step, under one read
transaction — with the WAL journal ``ctown.db`` sets, writers go on while it copies and the copy
is the database as of the moment the step began. PostgreSQL: ``pg_dump --format=custom`` inside a
snapshot exported from a REPEATABLE READ transaction, so the row counts of the manifest and the
dump are the same instant; ``pg_restore --single-transaction`` loads it, all or nothing. The
client programs are found on PATH; the connection goes to them through ``PG*`` environment
variables, never on the command line (where ``ps`` would show a password).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from ctown.backup.archive import BackupRefused
from ctown.db import make_engine
from ctown.i18n import Message, _
from ctown.ledger.models import LedgerLog
from ctown.ledger.service import LOG_ID
from ctown.privacy.keyring import BINDING_ID
from ctown.privacy.models import KeyringBinding

#: libpq's environment variable for each connection parameter a URL's query may carry.
_QUERY_ENV = {"host": "PGHOST", "port": "PGPORT", "sslmode": "PGSSLMODE",
              "sslrootcert": "PGSSLROOTCERT", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY",
              "connect_timeout": "PGCONNECT_TIMEOUT", "options": "PGOPTIONS",
              "target_session_attrs": "PGTARGETSESSIONATTRS", "passfile": "PGPASSFILE"}


@dataclass(frozen=True)
class Facts:
    """What the manifest says about a database (read in the copy's own snapshot)."""

    revision: str | None
    tables: dict[str, int]
    fingerprint: str | None
    ledger_vkey: str | None

    @property
    def holds_rows(self) -> bool:
        return any(n for name, n in self.tables.items() if name != "alembic_version")


def kind_of(url: str) -> str:
    backend = sa.engine.make_url(url).get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise BackupRefused(Message(_("不支持备份 {backend} 数据库（只支持 SQLite 和 PostgreSQL）"),
                                    {"backend": backend}))
    return backend


def read_facts(conn: Connection) -> Facts:
    names = sorted(sa.inspect(conn).get_table_names())
    tables = {n: int(conn.scalar(sa.select(sa.func.count()).select_from(sa.table(n))) or 0)
              for n in names}
    return Facts(revision(conn), tables, fingerprint(conn), ledger_vkey(conn))


def revision(conn: Connection) -> str | None:
    """The Alembic revision of the database (None: not migrated, not a ctown database)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    found = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    return None if found is None else str(found)


def fingerprint(conn: Connection) -> str | None:
    """The key ring the database is bound to (``ctown.privacy.keyring``)."""
    if not sa.inspect(conn).has_table(KeyringBinding.__tablename__):
        return None
    return conn.scalar(sa.select(KeyringBinding.fingerprint).where(
        KeyringBinding.id == BINDING_ID))


def ledger_vkey(conn: Connection) -> str | None:
    """The public key of the database's ledger, if it has one."""
    if not sa.inspect(conn).has_table(LedgerLog.__tablename__):
        return None
    return conn.scalar(sa.select(LedgerLog.vkey).where(LedgerLog.id == LOG_ID))


def facts(engine: Engine) -> Facts:
    with engine.connect() as conn:
        return read_facts(conn)


def preflight(url: str, *programs: str) -> None:
    """Before anything changes: the client programs a PostgreSQL backup or restore needs."""
    if kind_of(url) == "postgresql":
        for program in programs:
            client(program)


def dump(url: str, out: Path) -> Facts:
    """Copy the database at ``url`` into the file ``out``; the facts are those of the copy."""
    return _sqlite_dump(url, out) if kind_of(url) == "sqlite" else _pg_dump(url, out)


def load(url: str, part: Path) -> None:
    """Load a copy made by :func:`dump` into the database at ``url`` (replacing what is there:
    the caller has checked it is empty, or was told ``--force``)."""
    if kind_of(url) == "sqlite":
        _sqlite_load(url, part)
    else:
        _pg_load(url, part)


# -- SQLite --------------------------------------------------------------------------------------
def sqlite_path(url: str) -> Path:
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:":
        raise BackupRefused(Message(_("内存中的 SQLite 数据库无法备份或恢复")))
    return Path(database)


def _sqlite_dump(url: str, out: Path) -> Facts:
    path = sqlite_path(url)
    if not path.is_file():
        raise BackupRefused(Message(_("找不到数据库文件 {path}"), {"path": str(path)}))
    with closing(sqlite3.connect(path, timeout=30)) as src, \
            closing(sqlite3.connect(out)) as dst:
        src.backup(dst)  # pages=-1: one step, one read transaction, one instant
        dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    engine = sa.create_engine(f"sqlite:///{out.as_posix()}", poolclass=NullPool)
    try:
        return facts(engine)
    finally:
        engine.dispose()


def _sqlite_load(url: str, part: Path) -> None:
    path = sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The backup API writes the whole target in one transaction: a reader sees the old database
    # or the restored one, and a crash leaves the old one.
    with closing(sqlite3.connect(part)) as src, \
            closing(sqlite3.connect(path, timeout=30)) as dst:
        src.backup(dst)


# -- PostgreSQL ----------------------------------------------------------------------------------
def client(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise BackupRefused(Message(_(
            "找不到 PostgreSQL 客户端程序 {program}：请把它装到 PATH 上（Debian/Ubuntu："
            "apt-get install postgresql-client，大版本不低于服务器）"), {"program": program}))
    return found


def pg_environment(url: str) -> dict[str, str]:
    """The connection of ``url`` as libpq environment variables (the password included: the
    environment of a process is readable only by its owner, its command line by everyone)."""
    u = sa.engine.make_url(url)
    env = dict(os.environ)
    for var, part in (("PGHOST", u.host), ("PGPORT", u.port), ("PGUSER", u.username),
                      ("PGPASSWORD", u.password), ("PGDATABASE", u.database)):
        if part is not None:
            env[var] = str(part)
    for name, var in _QUERY_ENV.items():
        value = u.query.get(name)
        if value is not None:
            env[var] = value if isinstance(value, str) else value[0]
    env["PGAPPNAME"] = "ctown-backup"
    return env


def _run(args: list[str], url: str) -> None:
    # The program is the one client() found on PATH; the arguments are ours (no shell).
    done = subprocess.run(args, env=pg_environment(url), capture_output=True, text=True,  # noqa: S603
                          check=False)
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        raise BackupRefused(Message(_("{program} 失败（退出码 {code}）：{error}"), {
            "program": Path(args[0]).name, "code": done.returncode, "error": tail}))


def _pg_dump(url: str, out: Path) -> Facts:
    program = client("pg_dump")
    engine = make_engine(url)
    try:
        with engine.connect() as raw:
            conn = raw.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snapshot = conn.scalar(sa.text("SELECT pg_export_snapshot()"))
                found = read_facts(conn)
                # The snapshot lives as long as this transaction: pg_dump reads the same instant.
                _run([program, "--format=custom", "--no-password", f"--snapshot={snapshot}",
                      f"--file={out}"], url)
    finally:
        engine.dispose()
    return found


def _pg_load(url: str, part: Path) -> None:
    program = client("pg_restore")
    database = sa.engine.make_url(url).database or ""
    # --clean --if-exists drops the (empty, or --force) target's tables inside the same single
    # transaction: a failed restore leaves the target as it was.
    _run([program, "--clean", "--if-exists", "--single-transaction", "--exit-on-error",
          "--no-owner", "--no-privileges", "--no-password", f"--dbname={database}", str(part)],
         url)
