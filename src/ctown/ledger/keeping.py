"""The ledger keeps up by itself (账本自动存证, #12 item 10): every commit that wrote a ledger
source appends its records to the log in the same transaction; each run ends with a signed
checkpoint.

* A *keeper* watches one engine (:func:`install`): the web app's (``Capability.install``, with a
  thread that signs a checkpoint every ``ledger_checkpoint_minutes`` while the server writes) and
  every ``ctown`` command's (``cli_support.open_database``; the command signs when it ends).
* Writers mark their transaction through :mod:`ctown.appendorder` (bulk paths call it, the cursor
  hook below catches the statements SQLAlchemy runs); the session's ``before_commit`` then appends
  what is pending, so a record and its leaf commit or roll back together: no crash leaves a
  record off the log, and ``ctown ledger verify`` has nothing pending to explain.
* Sessions of engines without a keeper (tests, scripts) append nothing by themselves; their
  records wait for ``ctown ledger checkpoint`` as before.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ctown import appendorder
from ctown.db import driver_connection
from ctown.ledger import service, tasks
from ctown.ledger.sources import all_sources
from ctown.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger(__name__)


@dataclass
class Keeper:
    """Appends for one engine, and signs the log's head when asked (end of a run, a timer)."""

    engine: Engine
    settings: Settings
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def append(self, session: Session) -> None:
        while tasks.append_pending(session, self.settings, sign=False) > 0:
            pass

    def sign(self) -> bool:
        """Sign a checkpoint if the log grew since the newest one (by this process or by one
        killed before it could sign); True if signed. Never creates a log."""
        with self._lock, Session(self.engine) as session, session.begin():
            log = service.get_log(session)
            latest = service.latest_checkpoint(session) if log is not None else None
            if log is None or (latest is not None and latest.tree_size == log.size):
                return False
            service.make_checkpoint(session, self.settings)
        return True

    def start_signing(self) -> None:
        """The server's thread: a checkpoint every ``ledger_checkpoint_minutes`` while it writes."""
        every = self.settings.ledger_checkpoint_minutes * 60

        def run() -> None:
            while not self._stop.wait(every):
                try:
                    self.sign()
                except Exception:  # the database away for a moment: the next round signs
                    log.exception("ledger checkpoint failed")

        self._thread = threading.Thread(target=run, name="ledger-checkpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.sign()
        except sa.exc.SQLAlchemyError as exc:
            # The records are on the log already; only the signed head waits for the next run
            # (or the server's timer). Not a reason to fail a command that did its work.
            log.warning("ledger checkpoint not signed at the end of the run: %s", exc)


_keepers: dict[int, Keeper] = {}
_registry = threading.Lock()


def install(engine: Engine, settings: Settings) -> Keeper:
    """Keep the ledger up to date for everything committed on ``engine``."""
    appendorder.ORDERED.update(s.table.name for s in all_sources().values())
    _listen_once()
    if not event.contains(engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(engine, "checkout", _checkout)
    keeper = Keeper(engine, settings)
    with _registry:
        _keepers[id(engine)] = keeper
    return keeper


def uninstall(engine: Engine) -> None:
    """Sign what was appended and stop keeping this engine."""
    with _registry:
        keeper = _keepers.pop(id(engine), None)
    if keeper is not None:
        keeper.stop()


def install_app(app: FastAPI, settings: Settings) -> None:
    """``Capability.install``: keep the app's engine; sign every few minutes and at shutdown.

    The timer starts with the app, not when it is built: an app that is never started (a test's
    client used without ``with``) left a thread behind that woke every five minutes, long after
    its database was gone ("ledger checkpoint failed" in CI's log)."""
    keeper = install(app.state.engine, settings)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        from starlette.concurrency import run_in_threadpool

        keeper.start_signing()
        async with inner(a) as state:
            yield state
            await run_in_threadpool(uninstall, a.state.engine)

    app.router.lifespan_context = lifespan


def keeper_for(engine: Engine) -> Keeper | None:
    with _registry:
        return _keepers.get(id(engine))


def _listen_once() -> None:
    if not event.contains(Session, "before_commit", _before_commit):
        event.listen(Session, "before_commit", _before_commit)


def _before_commit(session: Session) -> None:
    bind = session.bind
    keeper = _keepers.get(id(bind)) if isinstance(bind, Engine) else None
    if keeper is None or not session.in_transaction():
        return
    # before_commit runs before the commit's own flush: flush first, so the rows the session
    # still holds go through the cursor hook and are appended with the rest.
    session.flush()
    if appendorder.take_written(driver_connection(session.connection())):
        keeper.append(session)


def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    # A mark from before this checkout is not this transaction's: without this, a stale mark
    # (an id reused from a closed connection) appended other writers' pending rows at random.
    appendorder.forget(dbapi_connection)


def _before_cursor_execute(conn: Any, cursor: Any, statement: str, parameters: Any,
                           context: Any, executemany: bool) -> None:
    """Statements SQLAlchemy runs (ORM flushes, Core inserts): mark and order like bulk paths."""
    if not statement.startswith("INSERT INTO "):
        return
    table = statement[12:].split(" ", 1)[0].strip('"')
    if table in appendorder.ORDERED:
        appendorder.before_insert(conn.connection.driver_connection, table,
                                  conn.dialect.name == "postgresql")
