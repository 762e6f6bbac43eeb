"""Database plumbing: declarative base, engines for SQLite and PostgreSQL, sessions, UTC times.

Every table of every capability derives from :class:`Base`, so one Alembic history covers them.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, QueryableAttribute, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from ctown import appendorder

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

    if TYPE_CHECKING:
        # DeclarativeBase types it as any FromClause, since a class may map a join or a select;
        # every ctown model maps one Table (bulk inserts and COPY rely on it).
        __table__: ClassVar[sa.Table]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: The integers a column holds: ``BigInteger`` (and LIMIT/OFFSET) signed 64-bit, ``Integer`` — the
#: id of most tables — 32-bit on PostgreSQL. A larger one is no id of any row, and binding it fails
#: (SQLite: OverflowError past 64 bits; PostgreSQL: "integer out of range" past 32, since
#: SQLAlchemy casts the parameter to the column's type), a 500 before ids were checked against
#: these (the API fuzzing found 2**40 failing on PostgreSQL in 23 operations).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def storable_int(value: object, column: object = None) -> bool:
    """Whether ``value`` is not an integer, or an integer ``column`` can hold: 64 bits for a
    ``BigInteger`` column, else 32 (an ``Integer`` id). SQLite's integers all have 64 bits; it
    answers the same, so that both databases find no row alike."""
    if not isinstance(value, int):
        return True
    if isinstance(getattr(column, "type", None), sa.BigInteger):
        return INT64_MIN <= value <= INT64_MAX
    return INT32_MIN <= value <= INT32_MAX


def page_offset(page: int, per_page: int) -> int:
    """The OFFSET of page ``page`` (from 1; less counts as 1), clamped to what the databases
    accept: a page past the end is an empty page, however far past."""
    return min((max(page, 1) - 1) * per_page, INT64_MAX)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores naive text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: ctown stores only timezone-aware UTC times")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class DatabaseUnavailable(RuntimeError):
    """The configured database cannot be reached or the URL is malformed (one clear line)."""


SQLITE_CHECKPOINT_PAGES = 20_000


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets the web server read while a load writes; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    # Checkpoint the WAL into the database every ~80 MB instead of every 4 MB: a feed file's
    # transaction writes more than 4 MB, so the default copied every load's pages back at each
    # commit — a quarter of a county load's time (see docs/ingest.md).
    cur.execute(f"PRAGMA wal_autocheckpoint={SQLITE_CHECKPOINT_PAGES}")
    cur.close()


def _sqlite_savepoint_writes(conn: sa.Connection, _name: str | None) -> None:
    """A savepoint outside a transaction opens the write transaction (``BEGIN IMMEDIATE``).

    The driver begins a transaction only before the first INSERT/UPDATE/DELETE, so that
    statement takes the write lock from no transaction and SQLite's busy handler waits for it.
    A ``SAVEPOINT`` outside a transaction instead opens a deferred one: the reads inside it
    hold a snapshot, and the first write of such a transaction fails at once with "database is
    locked" while another connection writes — the busy handler is not asked (it could not help:
    the snapshot may be stale). Eight concurrent collection uploads (a savepoint each) lost 6 to
    that before this (tests/test_db_faults.py); taking the lock first makes them queue instead.
    """
    raw = conn.connection.driver_connection
    if raw is not None and not raw.in_transaction:
        raw.execute("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise DatabaseUnavailable(f"数据库地址无效 / invalid database URL: {url!r}") from exc
    if parsed.drivername.startswith("sqlite") and parsed.database not in (None, "", ":memory:"):
        from pathlib import Path

        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.database not in (None, "", ":memory:"):
        # FastAPI runs sync handlers on up to 40 threads; a smaller pool makes them queue on
        # connections (and time out) under load.
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 40)
        kwargs.setdefault("pool_pre_ping", True)
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise DatabaseUnavailable(f"数据库地址无效 / invalid database URL {url!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "savepoint", _sqlite_savepoint_writes)
    return engine


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        first = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailable(
            f"无法连接数据库 / cannot reach database {engine.url.render_as_string()}: {first}"
        ) from exc


#: SQLite's primary result codes that mean "not now" rather than "wrong": BUSY and LOCKED (a
#: lock not granted within the busy timeout), IOERR, CANTOPEN (the file is not reachable).
_SQLITE_NOT_NOW = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
                   sqlite3.SQLITE_CANTOPEN}


def outage(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot serve *for the moment* — restarted or stopped,
    the connection lost, a lock not granted in time, the pool exhausted — rather than that the
    work itself was wrong. The web answers it with 503 "try again later", a command with one
    line and exit 2; the open transaction was rolled back either way, so running again is safe.

    Errors of the driver itself count too: the bulk paths (``COPY``, ``executemany``) call it
    without SQLAlchemy, whose wrapper would say so."""
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection within pool_timeout
        return True
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated or exc.orig is None:
            return exc.connection_invalidated
        exc = exc.orig
    if isinstance(exc, sqlite3.OperationalError):
        return getattr(exc, "sqlite_errorcode", 0) & 0xFF in _SQLITE_NOT_NOW
    psycopg = sys.modules.get("psycopg")  # not imported: the error cannot be one of its own
    return psycopg is not None and isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def first_line(exc: BaseException) -> str:
    """The driver's own first line of a database error (never the SQL or its parameters)."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit at the boundary (request or CLI command), roll back on error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def exclusive(engine: Engine, name: str, waiting: Callable[[], None] | None = None
              ) -> Iterator[None]:
    """Hold the database-wide lock ``name`` for the block: one holder at a time, across
    processes and machines — a PostgreSQL advisory lock on a connection of its own (it ends
    with that connection, so a killed holder or a restarted server frees it), or ``flock`` of a
    file beside a SQLite database. ``waiting`` is called once if another holder makes us wait."""
    if engine.dialect.name == "sqlite":
        if not engine.url.database or engine.url.database == ":memory:":
            yield
            return
        with open(f"{engine.url.database}.{name}-lock", "a+b") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if waiting:
                    waiting()
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    key = {"k": int.from_bytes(hashlib.sha256(f"ctown:{name}".encode()).digest()[:8], "big",
                               signed=True)}
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        if not conn.scalar(sa.text("SELECT pg_try_advisory_lock(:k)"), key):
            if waiting:
                waiting()
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), key)
        yield
    finally:
        try:
            conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), key)
        except sa.exc.DBAPIError:
            conn.invalidate()  # the server went away, and the lock with its session
        conn.close()


def driver_connection(conn: sa.Connection) -> Any:
    """The DB-API connection under ``conn`` (sqlite3 or psycopg, whichever the URL names), for
    executemany and COPY without SQLAlchemy's per-row machinery.

    SQLAlchemy types it ``Any | None``: None only once a connection was invalidated, never while
    it is checked out, as ``conn`` is."""
    return conn.connection.driver_connection


class JSONText(str):
    """A JSON document already serialised (e.g. in canonical form for a digest): bulk inserts
    store its text as is instead of serialising the value a second time."""


def bulk_insert(session: Session, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert many rows fast: ``COPY`` on PostgreSQL, one prepared executemany on SQLite.

    Column defaults written in Python (``default=utcnow``) are applied here, since COPY skips them.
    Every row must have the same keys.
    """
    if not rows:
        return
    columns = list(rows[0])
    defaults = {c.name: c.default.arg for c in table.columns
                if c.name not in columns and isinstance(c.default, sa.ColumnDefault)
                and c.default.is_callable}
    names = columns + list(defaults)
    stamped_values = [fn(None) for fn in defaults.values()]
    raw = driver_connection(session.connection())
    quoted = ", ".join(f'"{n}"' for n in names)
    dialect = session.get_bind().dialect
    appendorder.before_insert(raw, table.name, dialect.name == "postgresql")
    if dialect.name != "postgresql":
        # The DB-API executemany with each column's own bind processor (JSON, UTC times): what
        # ``session.execute(insert, rows)`` does, without SQLAlchemy's per-row parameter
        # machinery, which cost 3/4 of the registry load's time.
        procs = [_bind_processor(table.c[n], dialect) for n in names]
        stamped = [v if p is None else p(v) for v, p in zip(stamped_values, procs[len(columns):],
                                                             strict=True)]
        cols = [_processed([r[c] for r in rows], p) for c, p in zip(columns, procs, strict=False)]
        cols += [[v] * len(rows) for v in stamped]
        marks = ", ".join("?" * len(names))
        raw.executemany(f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks})',
                        zip(*cols, strict=True))
        return
    json_cols = {c.name for c in table.columns if isinstance(c.type, sa.JSON)}
    cursor = raw.cursor()
    with cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            values = [_copy_value(row[c], c in json_cols) for c in columns]
            copy.write_row(values + stamped_values)


class _JSONProcessor:
    """A JSON column's bind processor that leaves :class:`JSONText` as it is."""

    def __init__(self, proc: Any) -> None:
        self.proc = proc

    def __call__(self, value: Any) -> Any:
        return value if isinstance(value, JSONText) else self.proc(value)


def _bind_processor(column: sa.Column[Any], dialect: Any) -> Any:
    proc = column.type.dialect_impl(dialect).bind_processor(dialect)
    if proc is not None and isinstance(column.type, sa.JSON):
        return _JSONProcessor(proc)
    return proc


def _processed(values: list[Any], proc: Any) -> list[Any]:
    """Bind-process a column, each distinct value once (times and codes repeat in bulk loads)."""
    if proc is None:
        return values
    if isinstance(proc, _JSONProcessor):  # documents: no memo (1 == True would share one)
        return [proc(v) for v in values]
    memo: dict[Any, Any] = {}
    try:
        return [memo[v] if v in memo else memo.setdefault(v, proc(v)) for v in values]
    except TypeError:  # unhashable values (JSON documents)
        return [proc(v) for v in values]


def rowcount(result: sa.Result[Any]) -> int:
    """The rows an UPDATE or DELETE run by ``Session.execute`` matched. Its result is typed as a
    plain ``Result`` whatever the statement; for DML it is a ``CursorResult``, which has the count."""
    return cast("sa.CursorResult[Any]", result).rowcount


def keys_in(session: Session, column: QueryableAttribute[Any] | sa.ColumnElement[Any],
            keys: list[Any]) -> sa.ColumnElement[bool]:
    """``column IN keys`` as one bound value, however many keys: a JSON array on SQLite, an
    array on PostgreSQL. SQLAlchemy's ``in_`` binds one parameter per key, and building those
    parameters cost more than the index look-ups themselves on bulk loads."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == sa.any_(sa.bindparam(None, keys, type_=ARRAY(column.type)))
    values = sa.func.json_each(sa.bindparam(None, json.dumps(keys), type_=sa.String)
                               ).table_valued("value")
    return column.in_(sa.select(values.c.value))


def _copy_value(value: Any, is_json: bool) -> Any:
    if is_json and not isinstance(value, JSONText):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return value
