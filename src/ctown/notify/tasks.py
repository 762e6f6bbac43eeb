"""Delivery: after commit, with retries, never twice.

:func:`deliver` claims the committed, due notices with one ``UPDATE … RETURNING`` (on PostgreSQL
over ``SELECT … FOR UPDATE SKIP LOCKED``, on SQLite under the database's single write lock), hands
each to the backend of its channel, then marks it sent — or, when the backend raised, schedules
the next attempt with exponential backoff — in the same transaction. A second sender (another
uvicorn worker, a ``ctown notify send`` run) claims nothing that the first holds, and what was
marked sent is never claimed again. The one window left is a crash between the provider's answer
and our commit: the claim rolls back and the notice is sent again later; the outbox id goes to
the backend as a client message id so that a provider can drop the repeat.

Each engine of an app or CLI run has a :class:`Sender`, a thread woken by every commit that
queued notices (:mod:`ctown.notify.service` hooks ``after_commit``); it also wakes by itself when
the earliest retry is due. ``ctown notify send`` delivers the rest (after a crash, from cron).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import queue as queue_mod
import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ctown.capabilities import CAPABILITIES, optional_module
from ctown.db import rowcount, utcnow
from ctown.notify import address, optout
from ctown.notify.channels import SMS, DeliveredHook, Notifier, Outgoing
from ctown.notify.models import Notification

log = logging.getLogger("ctown.notify")
BATCH = 500
_OUTBOX = Notification.__table__
_COLUMNS = ("id", "channel", "user_id", "subject_id", "source", "ref_kind", "ref_id", "msgid",
            "params", "attempts")


@dataclass(frozen=True)
class Delivery:
    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    #: The earliest retry still waiting (any sender's), or None.
    next_attempt_at: dt.datetime | None = None


def deliver(session: Session, notifier: Notifier, *, now: dt.datetime | None = None,
            limit: int = BATCH) -> Delivery:
    """Deliver every committed notice that is due, in the caller's transaction."""
    now = now or utcnow()
    sent = failed = gave_up = 0
    while True:
        claimed = _claim(session, now, limit)
        claimed, declined = _addressed(session, claimed)
        _decline(session, now, declined)
        done, retry = _send(notifier, claimed)
        _mark(session, notifier, now, done, retry)
        _tell_sources(session, notifier, done)
        sent += len(done)
        failed += len(retry)
        gave_up += sum(1 for n, _e in retry if n.attempts >= notifier.policy.max_attempts)
        if len(claimed) < limit:
            break
    return Delivery(sent, failed, gave_up, _next_retry(session))


def _claim(session: Session, now: dt.datetime, limit: int) -> list[Outgoing]:
    c = _OUTBOX.c
    due = (sa.select(c.id).where(c.sent_at.is_(None), c.failed_at.is_(None),
                                 sa.or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
           .order_by(c.id).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        # Another sender's claimed rows are skipped, not waited for.
        due = due.with_for_update(skip_locked=True)
    stmt = (sa.update(_OUTBOX).where(c.id.in_(due)).values(attempts=c.attempts + 1)
            .returning(*(c[name] for name in _COLUMNS), c.address_cipher))
    rows = session.execute(stmt).all()
    claimed = []
    for row in rows:
        values = row._asdict()
        token = values.pop("address_cipher")
        claimed.append(Outgoing(**values, address_token=token,
                                address_aad=address.outbox_aad(row.id) if token else None))
    return sorted(claimed, key=lambda n: n.id)


def _addressed(session: Session, claimed: Sequence[Outgoing]
               ) -> tuple[list[Outgoing], list[Outgoing]]:
    """The SMS without an address of their own get the subject's phone on file; those a number
    opted out of (and may decline, :mod:`ctown.notify.optout`) are set apart."""
    wanted = [n.subject_id for n in claimed
              if n.channel == SMS and n.address_token is None and n.subject_id is not None]
    on_file = address.resolve(session, (i for i in wanted if i is not None))
    declined_numbers = optout.opted_out(session, (f.phone_index for f in on_file.values()))
    ready: list[Outgoing] = []
    declined: list[Outgoing] = []
    for notice in claimed:
        found = on_file.get(notice.subject_id) if notice.address_token is None and \
            notice.channel == SMS and notice.subject_id is not None else None
        if found is not None:
            notice = replace(notice, address_token=found.token, address_aad=found.aad)
            if found.phone_index in declined_numbers and optout.optional(notice):
                declined.append(notice)
                continue
        ready.append(notice)
    return ready, declined


def _decline(session: Session, now: dt.datetime, declined: Sequence[Outgoing]) -> None:
    if declined:
        c = _OUTBOX.c
        session.execute(sa.update(_OUTBOX).where(c.id.in_([n.id for n in declined]))
                        .values(failed_at=now, next_attempt_at=None,
                                last_error=optout.OPTED_OUT))


def _send(notifier: Notifier, claimed: Sequence[Outgoing]
          ) -> tuple[list[Outgoing], list[tuple[Outgoing, str]]]:
    done: list[Outgoing] = []
    retry: list[tuple[Outgoing, str]] = []
    for notice in claimed:
        backend = notifier.backend(notice.channel)
        try:
            if backend is None:
                raise LookupError(f"no backend for channel {notice.channel!r}")
            backend.send(notice)
        except Exception as exc:  # any backend failure: retried later, the others go on
            # The class only: a provider's message may carry the phone number.
            log.warning("notice %d (%s → %s) failed, attempt %d: %s", notice.id, notice.channel,
                        notice.recipient, notice.attempts, type(exc).__name__)
            retry.append((notice, type(exc).__name__))
        else:
            done.append(notice)
    return done, retry


def _mark(session: Session, notifier: Notifier, now: dt.datetime, done: Sequence[Outgoing],
          retry: Sequence[tuple[Outgoing, str]]) -> None:
    c = _OUTBOX.c
    if done:
        session.execute(sa.update(_OUTBOX).where(c.id.in_([n.id for n in done]))
                        .values(sent_at=now, next_attempt_at=None, last_error=None))
    policy = notifier.policy
    for notice, error in retry:
        last = notice.attempts >= policy.max_attempts
        session.execute(sa.update(_OUTBOX).where(c.id == notice.id).values(
            last_error=error[:80], failed_at=now if last else None,
            next_attempt_at=None if last else now + policy.delay(notice.attempts)))


def _tell_sources(session: Session, notifier: Notifier, done: Sequence[Outgoing]) -> None:
    """Each source's ``on_delivered`` hears, in this transaction, what of its notices went out
    (privacy marks a negative record notified only then)."""
    by_source: dict[str, list[Outgoing]] = defaultdict(list)
    for notice in done:
        by_source[notice.source].append(notice)
    for source, notices in sorted(by_source.items()):
        hook = _hook(notifier, source)
        if hook is None:
            continue
        try:
            with session.begin_nested():
                hook(session, notices)
        except Exception:  # the notices did go out: never undo their marks (no resend)
            log.exception("delivery hook of %s failed for %d notices", source, len(notices))


def _hook(notifier: Notifier, source: str) -> DeliveredHook | None:
    with notifier._lock:
        if source not in notifier.hooks:
            module = optional_module(source, "notices") if source in CAPABILITIES else None
            notifier.hooks[source] = getattr(module, "on_delivered", None)
        return notifier.hooks[source]


def _next_retry(session: Session) -> dt.datetime | None:
    c = _OUTBOX.c
    earliest: dt.datetime | None = session.scalar(sa.select(sa.func.min(c.next_attempt_at)).where(
        c.sent_at.is_(None), c.failed_at.is_(None), c.next_attempt_at.is_not(None)))
    return earliest


def deliver_pending(session: Session, notifier: Notifier | None = None) -> int:
    """Send every committed, due notice (CLI, after a crash); returns how many went out.

    Without a notifier, the one installed for the session's engine (by the app or the CLI)."""
    return deliver(session, notifier or _installed(session)).sent


def retry_failed(session: Session) -> int:
    """Give the notices the sender gave up on another round of attempts."""
    c = _OUTBOX.c
    # What a number declined (退订) stays declined.
    result = session.execute(sa.update(_OUTBOX).where(
        c.sent_at.is_(None), c.failed_at.is_not(None),
        sa.or_(c.last_error.is_(None), c.last_error != optout.OPTED_OUT))
        .values(failed_at=None, next_attempt_at=None, attempts=0))
    return int(rowcount(result) or 0)


def _installed(session: Session) -> Notifier:
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    sender = sender_for(engine)
    if sender is None:
        raise RuntimeError("no notifier installed for this database (create_app or the ctown "
                           "command installs one; tests: ctown.notify.setup.start)")
    return sender.notifier


# -- the sender thread of one engine ----------------------------------------------------------

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


class Sender:
    """Delivers what commits on one engine; the thread starts with the first wake."""

    def __init__(self, engine: Engine, notifier: Notifier) -> None:
        self.engine = engine
        self.notifier = notifier
        self._signals: queue_mod.Queue[bool] = queue_mod.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._lock = threading.Lock()

    def wake(self) -> None:
        with self._lock:
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="ctown-notify")
                self._thread.start()
        self._signals.put(True)

    def wait(self) -> None:
        """Block until every wake so far has been answered (tests, the end of a command)."""
        self._signals.join()

    def stop(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping = True
        if thread is not None:
            self._signals.put(False)
            thread.join(timeout=30)

    def _run(self) -> None:
        """Each signal means "a transaction with notices committed": one pass sends whatever is
        committed and due, so signals that queued up meanwhile are answered by the same pass."""
        retry_at: dt.datetime | None = None
        while True:
            signals = self._next_signals(retry_at)
            try:
                if self._stopping:
                    return
                retry_at = self._pass()
            except Exception:  # the rows stay unsent: retried on the next wake or by the CLI
                log.exception("sending notices failed")
                retry_at = utcnow() + self.notifier.policy.first
            finally:
                for _ in signals:
                    self._signals.task_done()

    def _next_signals(self, retry_at: dt.datetime | None) -> list[bool]:
        # At least 50 ms: a due row another sender holds would otherwise spin this loop.
        timeout = None if retry_at is None else max((retry_at - utcnow()).total_seconds(), 0.05)
        signals: list[bool] = []
        with suppress(queue_mod.Empty):  # Empty: no commit meanwhile, but a retry is due
            signals.append(self._signals.get(timeout=timeout))
        while True:
            try:
                signals.append(self._signals.get_nowait())
            except queue_mod.Empty:
                return signals

    def _pass(self) -> dt.datetime | None:
        with sqlite_writer(self.engine), Session(self.engine) as session, session.begin():
            return deliver(session, self.notifier).next_attempt_at


# One sender per engine of this process. It holds its engine, so an id is not reused while
# it is registered; ``uninstall`` (app shutdown, end of a command) removes it.
_senders: dict[int, Sender] = {}
_registry_lock = threading.Lock()


def install(engine: Engine, notifier: Notifier) -> Sender:
    sender = Sender(engine, notifier)
    with _registry_lock:
        previous = _senders.get(id(engine))
        _senders[id(engine)] = sender
    if previous is not None:
        previous.wait()
        previous.stop()
    return sender


def uninstall(engine: Engine) -> None:
    """Let the sender finish what it was handed, then stop it."""
    with _registry_lock:
        sender = _senders.pop(id(engine), None)
    if sender is not None:
        sender.wait()
        sender.stop()


def sender_for(engine: Engine) -> Sender | None:
    with _registry_lock:
        return _senders.get(id(engine))


def wake(engine: Engine) -> bool:
    """Wake the engine's sender; False when none is installed (the notices wait for
    ``ctown notify send``)."""
    sender = sender_for(engine)
    if sender is None:
        return False
    sender.wake()
    return True


def wait_sent(engine: Engine) -> None:
    """Block until the engine's sender has handled everything handed to it."""
    sender = sender_for(engine)
    if sender is not None:
        sender.wait()
