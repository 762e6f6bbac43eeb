"""Opting out of SMS (退订): which notices a farmer may decline, and which still go.

A number that sent 退订 (TD) gets no notice that it may decline. What still goes, because the law
or the person's own request requires it:

* negative records before they go into bank reports (征信业管理条例 art. 15: the subject must be
  told first) — ``privacy``'s ``negative_notice``;
* overdue loans (``lending`` without an application reference): the step before a negative record,
  and the contract's own demand;
* one-time codes (``proxy``'s mandate codes, ``channels``' sign-in codes): asked for by the person;
* replies to the person's own SMS (``channels``), the confirmation of the opt-out included.

What may be declined (:data:`OPTIONAL`): the progress of a loan application (decision, approval
steps, disbursement — all on the farmer's page and in the bank's contract too), and reminders,
offers and alerts (``ref_kind`` ``reminder`` / ``offer`` / ``alert``). Marketing-like messages need
the subscriber's consent and an opt-out (工信部《通信短信息服务管理规定》 2015, art. 18); service
notices the law requires do not. A declined notice is not sent: it is closed with ``last_error =
'OptedOut'`` (``ctown notify outbox`` shows it as ``opted_out``) and never retried.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ctown.db import rowcount, utcnow
from ctown.notify.channels import SMS, Outgoing
from ctown.notify.models import SmsOptOut

OPTED_OUT = "OptedOut"
#: (source, ref_kind) of the notices a number may decline.
OPTIONAL: frozenset[tuple[str, str | None]] = frozenset({("lending", "loan_application")})
OPTIONAL_KINDS = frozenset({"reminder", "offer", "alert"})


def optional(notice: Outgoing) -> bool:
    """Whether an opt-out stops this notice (only SMS; everything else is required)."""
    return notice.channel == SMS and (
        (notice.source, notice.ref_kind) in OPTIONAL or notice.ref_kind in OPTIONAL_KINDS)


def opt_out(session: Session, phone_index: str) -> None:
    """Record the opt-out of a number (again: no change)."""
    table = SmsOptOut.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    session.execute(insert.values(phone_index=phone_index, opted_out_at=utcnow())
                    .on_conflict_do_nothing(index_elements=[table.c.phone_index]))


def opt_in(session: Session, phone_index: str) -> bool:
    """Undo an opt-out (the number texts 订阅 / DY, or the village office records it)."""
    result = session.execute(sa.delete(SmsOptOut).where(SmsOptOut.phone_index == phone_index))
    return rowcount(result) > 0


def opted_out(session: Session, phone_indexes: Iterable[str | None]) -> set[str]:
    wanted = sorted({i for i in phone_indexes if i})
    if not wanted:
        return set()
    return set(session.scalars(sa.select(SmsOptOut.phone_index)
                               .where(SmsOptOut.phone_index.in_(wanted))))
