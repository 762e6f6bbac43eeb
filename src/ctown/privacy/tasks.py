"""Scheduled privacy work: tell farmers about new negative records before they go live, and
delete negative records five years after the behaviour ended (条例 art. 15, art. 16).

Both work on whole sets with one statement each (no row-by-row loops over the credit file).
"""

from __future__ import annotations

import datetime as dt
import logging

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.audit import audit
from ctown.catalogue.service import load_catalogue
from ctown.db import rowcount, utcnow
from ctown.privacy import notices
from ctown.privacy.models import NegativeNotice

log = logging.getLogger(__name__)
RETENTION_YEARS = 5


def negative_codes() -> list[str]:
    return sorted(code for code, ind in load_catalogue().indicators.items() if ind.negative)


def notify_negatives(session: Session) -> int:
    """Queue an SMS to the farmer for every negative current value nobody has been told about;
    returns how many were queued.

    The report leaves a negative value out until the farmer has been told: the record is marked
    notified only when its SMS was delivered (``privacy.notices.on_delivered``, called by the
    sender after commit), so an SMS that fails keeps the record out until a retry gets through.
    """
    from ctown.ingest.models import CurrentValue

    codes = negative_codes()
    if not codes:
        return 0
    known = sa.select(NegativeNotice.id).where(
        NegativeNotice.subject_id == CurrentValue.subject_id,
        NegativeNotice.indicator_code == CurrentValue.indicator_code,
        NegativeNotice.observed_on == CurrentValue.observed_on)
    rows = session.execute(sa.select(CurrentValue.subject_id, CurrentValue.indicator_code,
                                     CurrentValue.observed_on)
                           .where(CurrentValue.indicator_code.in_(codes), ~sa.exists(known))
                           ).all()
    if rows:
        now = utcnow()
        session.execute(sa.insert(NegativeNotice), [
            {"subject_id": s, "indicator_code": c, "observed_on": d, "created_at": now,
             "notified_at": None} for s, c, d in rows])
    catalogue = load_catalogue()
    queued = notices.queue_negatives(session, {c: catalogue.indicators[c].name_zh for c in codes})
    if not queued:
        return 0
    # Logged by count only: no names, identifiers or phone numbers in logs.
    log.info("negative-record notices queued: %d", queued)
    audit(session, None, "negative.notice", "notices", count=queued)
    return queued


def cutoff(today: dt.date) -> dt.date:
    try:
        return today.replace(year=today.year - RETENTION_YEARS)
    except ValueError:  # 29 February
        return today.replace(year=today.year - RETENTION_YEARS, day=28)


def purge_negatives(session: Session, today: dt.date | None = None) -> int:
    """Delete negative values whose behaviour ended more than five years ago (``observed_on``
    is the date the behaviour ended, e.g. the day an overdue loan was settled)."""
    from ctown.ingest.models import CurrentValue, IndicatorValue

    codes = negative_codes()
    limit = cutoff(today or utcnow().date())
    if not codes:
        return 0
    expired = (IndicatorValue.indicator_code.in_(codes), IndicatorValue.observed_on < limit)
    # The ids go into the purge's audit event (itself on the ledger), so that `ledger verify`
    # tells a lawful erasure from a row deleted behind the platform's back.
    erased = [int(i) for i in session.scalars(sa.select(IndicatorValue.id).where(*expired))]
    gone = rowcount(session.execute(sa.delete(IndicatorValue).where(*expired)))
    session.execute(sa.delete(CurrentValue).where(
        CurrentValue.indicator_code.in_(codes), CurrentValue.observed_on < limit))
    session.execute(sa.update(NegativeNotice).where(
        NegativeNotice.indicator_code.in_(codes), NegativeNotice.observed_on < limit,
        NegativeNotice.purged_at.is_(None)).values(purged_at=utcnow()))
    if gone:
        audit(session, None, "negative.purge", "indicator_values", count=gone,
              before=limit.isoformat(), erased={"credit_value": erased})
    return int(gone or 0)
