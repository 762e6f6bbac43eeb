"""Telling the farmer of a negative record before it goes live (条例 art. 15), through the outbox.

:func:`queue_negatives` writes one SMS per negative record into :mod:`ctown.notify`'s outbox;
:func:`on_delivered` — called by the sender in its delivery transaction — marks the record's
:class:`NegativeNotice` notified only once its SMS actually went out. The report and the export
leave out a negative record until then (``report.notified``): a failed SMS keeps it out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.db import utcnow
from ctown.i18n import _
from ctown.notify import service as notify
from ctown.notify.channels import SMS, Outgoing
from ctown.notify.models import Notification
from ctown.privacy.models import NegativeNotice

SOURCE = "privacy"
NEGATIVE = "negative_notice"
MESSAGE = _("您的信用档案将记入一条负面信息：{indicator}（{day}）。如有异议，可在平台或向村信用信息员提出。")


def unqueued() -> sa.Select[int, int, str, dt.date]:
    """Negative records not yet told and with no notice in the outbox: new ones, and those the
    platform marked "notified" before it could send anything (reset by migration 0012)."""
    queued = sa.select(Notification.id).where(Notification.ref_kind == NEGATIVE,
                                              Notification.ref_id == NegativeNotice.id)
    return sa.select(NegativeNotice.id, NegativeNotice.subject_id, NegativeNotice.indicator_code,
                     NegativeNotice.observed_on).where(
        NegativeNotice.notified_at.is_(None), NegativeNotice.purged_at.is_(None),
        ~sa.exists(queued)).order_by(NegativeNotice.id)


def queue_negatives(session: Session, names: dict[str, str]) -> int:
    """One SMS to the subject per untold negative record (``names``: indicator → its name)."""
    rows = session.execute(unqueued()).all()
    notify.queue_many(session, [
        {"channel": SMS, "subject_id": subject_id, "source": SOURCE, "ref_kind": NEGATIVE,
         "ref_id": notice_id, "msgid": MESSAGE,
         "params": {"indicator": names.get(code, code), "day": day.isoformat()}}
        for notice_id, subject_id, code, day in rows])
    return len(rows)


def on_delivered(session: Session, delivered: Sequence[Outgoing]) -> None:
    """The farmer has been told: the record may go live in reports from now on."""
    ids = [n.ref_id for n in delivered if n.ref_kind == NEGATIVE and n.ref_id is not None]
    if ids:
        session.execute(sa.update(NegativeNotice).where(
            NegativeNotice.id.in_(ids), NegativeNotice.notified_at.is_(None)
        ).values(notified_at=utcnow()).execution_options(synchronize_session=False))
