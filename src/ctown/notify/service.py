"""Queueing notices into the outbox of the caller's transaction, and the user's inbox.

:func:`queue` inserts a row into ``notify_outbox`` in the caller's transaction. Only when that
transaction commits does the session's ``after_commit`` hook wake the sender of its engine
(:mod:`ctown.notify.tasks`), which delivers every committed, due notice and marks it sent. A
rolled-back change leaves no row, and the sender only ever reads committed rows, so nothing is
sent about it. Rows left unsent (a crash, no sender in this process, a backend that failed) are
picked up by the sender's retries and by ``ctown notify send``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.notify import tasks
from ctown.notify.address import seal
from ctown.notify.channels import CHANNELS
from ctown.notify.models import Notification

_OUTBOX = Notification.__table__
_PENDING_KEY = "ctown.notify.pending"
_ROW = {"user_id": None, "subject_id": None, "ref_kind": None, "ref_id": None, "sent_at": None,
        "read_at": None, "attempts": 0, "next_attempt_at": None, "failed_at": None,
        "last_error": None, "address_cipher": None}


def queue(session: Session, *, channel: str, msgid: str, source: str,
          params: Mapping[str, Any] | None = None, user_id: int | None = None,
          subject_id: int | None = None, ref_kind: str | None = None,
          ref_id: int | None = None, address: str | None = None,
          cipher: FieldCipher | None = None) -> int:
    """Write a notice into the outbox of the current transaction (delivered after commit).

    ``msgid`` is the Chinese source text with named placeholders, rendered per recipient by the
    backend; ``source`` is the capability (its ``notices.on_delivered`` hears of delivery);
    ``(ref_kind, ref_id)`` what the notice is about. An SMS goes to the subject's phone on file;
    ``address`` (with the ``cipher`` that encrypts it into the row) sends it to that number
    instead — the reply to an inbound SMS. Returns the outbox id."""
    row = {"channel": channel, "user_id": user_id, "subject_id": subject_id, "source": source,
           "ref_kind": ref_kind, "ref_id": ref_id, "msgid": msgid, "params": params or {}}
    if address is not None and cipher is None:
        raise ValueError("an address of its own is stored encrypted: pass the field cipher")
    notice_id = int(session.connection().execute(
        _OUTBOX.insert().values(_values(row, utcnow())).returning(_OUTBOX.c.id)).scalar_one())
    if address is not None and cipher is not None:
        # Bound to the row's id, known only once the row is in.
        session.connection().execute(sa.update(_OUTBOX).where(_OUTBOX.c.id == notice_id)
                                     .values(address_cipher=seal(cipher, notice_id, address)))
    session.info[_PENDING_KEY] = True
    _watch()
    return notice_id


def _values(row: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    if row["channel"] not in CHANNELS:
        raise ValueError(f"unknown notice channel {row['channel']!r}")
    return {**_ROW, **row, "params": {k: str(v) for k, v in row["params"].items()},
            "created_at": now}


def queue_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Several notices in one executemany on the session's connection.

    Core, not the ORM: lending's instant decision queues its notices on the hot path, and the
    ORM's bulk insert cost ~3× the CPU there. Every row gets every column, so that one prepared
    statement serves them all."""
    if not rows:
        return
    now = utcnow()
    values = [_values(row, now) for row in rows]
    session.connection().execute(_OUTBOX.insert(), values)
    session.info[_PENDING_KEY] = True
    _watch()


def inbox(session: Session, user_id: int, limit: int = 20) -> list[Notification]:
    """The user's delivered notices, newest first."""
    stmt = (sa.select(Notification).where(Notification.user_id == user_id,
                                          Notification.sent_at.is_not(None))
            .order_by(Notification.id.desc()).limit(limit))
    return list(session.scalars(stmt))


def _watch() -> None:
    # One listener on the Session class (installed on first use) rather than one per session.
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)


def _after_rollback(session: Session) -> None:
    # Rolled back: the notices were never written, so they are never sent.
    session.info.pop(_PENDING_KEY, None)


def _after_commit(session: Session) -> None:
    if not session.info.pop(_PENDING_KEY, None):
        return
    bind = session.get_bind()
    # Only a top-level commit on an engine-bound session is durable; a session joined to an
    # outer connection (tests) commits a savepoint, and its notices wait for deliver_pending.
    if isinstance(bind, Engine):
        tasks.wake(bind)
