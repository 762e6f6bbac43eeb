"""Lending's notices to farmers, officers and banks, through the one outbox of :mod:`ctown.notify`.

A thin layer: lending's call sites name the application a notice is about (``application_id``),
which becomes the outbox's ``ref_kind="loan_application"``, ``ref_id``. Delivery after commit,
retries and the backends chosen from the settings are :mod:`ctown.notify`'s (``docs/notify.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.notify import service as _notify
from ctown.notify.channels import Backend, ConsoleBackend, MemoryBackend, NullBackend
from ctown.notify.models import Notification as Notice
from ctown.notify.tasks import deliver_pending, sqlite_writer, wait_sent

__all__ = ["Backend", "ConsoleBackend", "MemoryBackend", "Notice", "NullBackend",
           "about_application", "deliver_pending", "inbox", "queue", "queue_many",
           "sqlite_writer", "wait_sent"]

SOURCE = "lending"
APPLICATION = "loan_application"


def queue(session: Session, *, msgid: str, params: Mapping[str, Any] | None = None,
          user_id: int | None = None, subject_id: int | None = None,
          application_id: int | None = None, channel: str = "in_app") -> None:
    """Write a notice into the outbox of the current transaction (sent after commit)."""
    queue_many(session, [{"channel": channel, "user_id": user_id, "subject_id": subject_id,
                          "application_id": application_id, "msgid": msgid,
                          "params": params or {}}])


def queue_many(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Several notices in one executemany (the instant decision's hot path)."""
    _notify.queue_many(session, [_row(r) for r in rows])


def _row(row: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k != "application_id"}
    app_id = row.get("application_id")
    out.update(source=SOURCE, ref_kind=APPLICATION if app_id is not None else None,
               ref_id=app_id)
    return out


def about_application(application_id: int) -> tuple[sa.ColumnElement[bool], ...]:
    """Where-clauses: the notices about one loan application."""
    return (Notice.ref_kind == APPLICATION, Notice.ref_id == application_id)


def inbox(session: Session, user_id: int, limit: int = 20) -> list[Notice]:
    return _notify.inbox(session, user_id, limit)
