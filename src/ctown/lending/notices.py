"""Notices to farmers, officers and banks (SMS, in-app) through a transactional outbox.

:func:`queue` inserts a row into ``lending_notices`` in the caller's transaction. Only when that
transaction commits does the session's ``after_commit`` hook wake the sender, a worker thread with
its own session that delivers every committed, unsent notice and marks it sent. A rolled-back
change leaves no row, and the sender only ever reads committed rows, so nothing is sent about it.
Rows left unsent by a crash between commit and sending are picked up by :func:`deliver_pending`
(``ctown lending send-notices``).

Backends follow ``Settings.sms_backend``: ``console`` writes the message to the log (the phone
number is never logged, only the subject id), ``null`` drops it; tests install a memory backend.
"""

from __future__ import annotations

import fcntl
import logging
import queue as queue_mod
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ctown.db import utcnow
from ctown.i18n import translate
from ctown.lending.models import Notice

log = logging.getLogger("ctown.lending.notices")
_PENDING_KEY = "lending_notice_ids"


class Backend(Protocol):
    def send(self, notice: Notice) -> None: ...


class ConsoleBackend:
    def send(self, notice: Notice) -> None:
        to = f"user {notice.user_id}" if notice.user_id else f"subject {notice.subject_id}"
        log.info("[%s → %s] %s", notice.channel, to, translate(notice.msgid, None,
                                                                 **notice.params))


class NullBackend:
    def send(self, notice: Notice) -> None:
        return None


@dataclass
class MemoryBackend:
    """Keeps what was sent (tests, the demo's inbox check)."""

    sent: list[tuple[int, str, str]] = field(default_factory=list)

    def send(self, notice: Notice) -> None:
        self.sent.append((notice.id, notice.channel, translate(notice.msgid, None,
                                                               **notice.params)))


_backend: Backend = ConsoleBackend()


def use_backend(backend: Backend | str) -> Backend:
    """Choose the backend (``"console"``, ``"null"`` or an object); returns the previous one."""
    global _backend
    previous = _backend
    if isinstance(backend, str):
        backend = NullBackend() if backend == "null" else ConsoleBackend()
    _backend = backend
    return previous


def queue(session: Session, *, msgid: str, params: dict[str, Any] | None = None,
          user_id: int | None = None, subject_id: int | None = None,
          application_id: int | None = None, channel: str = "in_app") -> None:
    """Write a notice into the outbox of the current transaction (sent after commit)."""
    queue_many(session, [{"channel": channel, "user_id": user_id, "subject_id": subject_id,
                          "application_id": application_id, "msgid": msgid,
                          "params": {k: str(v) for k, v in (params or {}).items()}}])


def queue_many(session: Session, rows: list[dict[str, Any]]) -> None:
    """Several notices in one INSERT (Core, not the ORM: this is on the decision's hot path)."""
    if not rows:
        return
    now = utcnow()
    session.execute(sa.insert(Notice), [{**r, "created_at": now} for r in rows])
    session.info[_PENDING_KEY] = True
    _watch()


def _watch() -> None:
    # One listener on the Session class (installed on first use) rather than one per session.
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    # Rolled back: the notices were never written, so they are never sent.
    if _PENDING_KEY in session.info:
        session.info.pop(_PENDING_KEY, None)


def _after_commit(session: Session) -> None:
    if not session.info.pop(_PENDING_KEY, None):
        return
    bind = session.get_bind()
    # Only a top-level commit on an engine-bound session is durable; a session joined to an
    # outer connection (tests) commits a savepoint, and its notices wait for deliver_pending.
    if isinstance(bind, Engine):
        _worker(bind).put(True)


# -- sender ---------------------------------------------------------------------------------

_workers: dict[int, queue_mod.Queue[bool]] = {}
_thread_lock = threading.Lock()


@contextmanager
def sqlite_writer(engine: Engine) -> Iterator[None]:
    """Queue writers of one SQLite file on a lock instead of SQLite's busy handler.

    SQLite has one writer at a time; a writer that collides waits in the busy handler, which
    sleeps in growing steps (tens of ms) — the long tail under load. Threads queue on a thread
    lock and processes (uvicorn workers) on ``flock`` of a file beside the database: both wake
    the next writer at once. PostgreSQL locks rows, not the database: no lock is taken there.
    """
    if engine.dialect.name != "sqlite" or not engine.url.database or \
            engine.url.database == ":memory:":
        yield
        return
    with _thread_lock, open(f"{engine.url.database}.writer-lock", "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
_lock = threading.Lock()


def _worker(engine: Engine) -> queue_mod.Queue[bool]:
    with _lock:
        q = _workers.get(id(engine))
        if q is None:
            q = queue_mod.Queue()
            _workers[id(engine)] = q
            threading.Thread(target=_run, args=(engine, q), daemon=True,
                             name="lending-notices").start()
        return q


def _run(engine: Engine, q: queue_mod.Queue[bool]) -> None:
    """Each signal means "a transaction with notices committed": send whatever is committed and
    unsent (only committed rows are visible here). Signals that queued up meanwhile are
    answered by the same pass, so under load one transaction marks many notices sent."""
    while True:
        batches = [q.get()]
        while True:
            try:
                batches.append(q.get_nowait())
            except queue_mod.Empty:
                break
        try:
            with sqlite_writer(engine), Session(engine) as session, session.begin():
                _deliver(session)
        except Exception:  # the rows stay unsent; deliver_pending retries them
            log.exception("sending notices failed")
        finally:
            for _ in batches:
                q.task_done()


def _deliver(session: Session) -> int:
    stmt = sa.select(Notice).where(Notice.sent_at.is_(None)).order_by(Notice.id).limit(5000)
    notices = list(session.scalars(stmt.with_for_update(skip_locked=True)))
    for notice in notices:
        _backend.send(notice)
        notice.sent_at = utcnow()
    return len(notices)


def deliver_pending(session: Session) -> int:
    """Send every committed, unsent notice (CLI, and after a crash)."""
    return _deliver(session)


def wait_sent(engine: Engine) -> None:
    """Block until the sender has handled everything handed to it (tests, CLI exit)."""
    q = _workers.get(id(engine))
    if q is not None:
        q.join()


def inbox(session: Session, user_id: int, limit: int = 20) -> list[Notice]:
    stmt = (sa.select(Notice).where(Notice.user_id == user_id, Notice.sent_at.is_not(None))
            .order_by(Notice.id.desc()).limit(limit))
    return list(session.scalars(stmt))
