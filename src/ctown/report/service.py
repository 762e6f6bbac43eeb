"""The credit report (信用报告) a bank sees under the farmer's authorisation, the data handed to a
bank under the separate consent to provide it (PIPL art. 23), the household's receipts of the
ledger and the audit page: what is read *across* the credit file, the grades and the ledger sits
here, above scoring and the ledger (privacy's consents and query log sit below the feeds).

Both follow the one policy table (:mod:`ctown.masking`), leave out negative records the
farmer has not yet been told about (条例 art. 15) and mark items under objection as disputed.

The report is reached for the purpose ``credit_report`` (a consent of the bank in force), after
:func:`ctown.privacy.service.request_access` has logged the query on the farmer's page; it is
built from the credit file as the bank's role sees it (:func:`ctown.ingest.creditfile.build_file`),
never through the raw file, which banks do not reach.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown import masking
from ctown.access import rules
from ctown.access.scope import get_subject_for
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.catalogue.service import load_catalogue
from ctown.ingest.creditfile import build_file
from ctown.ledger import service as ledger
from ctown.privacy import service as privacy
from ctown.privacy.models import AuditEvent, NegativeNotice
from ctown.privacy.service import Access, disputed_codes, request_access
from ctown.registry.models import ChangeEvent, Subject


def credit_report(session: Session, actor: User, subject_id: int, purpose: str,
                  locale: str | None = None) -> tuple[Access, dict[str, Any] | None]:
    access = request_access(session, actor, subject_id, purpose, "query")
    if not access.allowed:
        return access, None
    subject = get_subject_for(session, actor, access.subject.id, "credit_report")
    return access, build_report(session, actor, subject, locale)


def notified(session: Session, subject_id: int) -> set[tuple[str, str]]:
    """(indicator, observed_on ISO) of negative records the subject has been told about."""
    rows = session.execute(sa.select(NegativeNotice.indicator_code, NegativeNotice.observed_on)
                           .where(NegativeNotice.subject_id == subject_id,
                                  NegativeNotice.notified_at.is_not(None)))
    return {(code, day.isoformat()) for code, day in rows}


def build_report(session: Session, actor: User, subject: Subject,
                 locale: str | None = None) -> dict[str, Any]:
    """The report of a subject the bank reached under consent (the query is already logged):
    current values as the bank's role sees them, live negatives only, disputes marked."""
    file = build_file(session, subject, Role(actor.role), locale=locale)
    catalogue = load_catalogue()
    told = notified(session, subject.id)
    disputed = disputed_codes(session, [subject.id, subject.household_id or subject.id])
    items = []
    for ind in file.indicators:
        cur = ind.current
        meta = catalogue.indicators.get(ind.code)
        if cur is None or meta is None:
            continue
        if meta.negative and (ind.code, cur.observed_on.isoformat()) not in told:
            continue  # not live until the farmer has been told
        # build_file left out what the role may not see, and masked what it sees masked.
        items.append({"code": ind.code, "name_zh": ind.name_zh, "name_en": ind.name_en,
                      "value": cur.display, "unit": ind.unit, "visibility": ind.visibility,
                      "observed_on": cur.observed_on.isoformat(), "department": cur.department,
                      "negative": meta.negative, "disputed": ind.code in disputed})
    return {"subject_id": file.subject_id, "kind": file.kind, "name": file.name,
            "region_code": file.region_code, "grade": _grade(session, subject),
            "catalogue_version": file.catalogue_version, "indicators": items}


def _grade(session: Session, subject: Subject) -> dict[str, Any] | None:
    try:
        from ctown.scoring.service import current_grade
    except ImportError:  # scoring not installed: the report has no grade
        return None
    record = current_grade(session, subject.household_id or subject.id)
    return None if record is None else {"grade": record.grade, "score": record.score}


def provide_data(session: Session, actor: User, subject_id: int, purpose: str
                 ) -> tuple[Access, list[dict[str, Any]]]:
    """Current values handed to the bank under the separate "provide" consent, as an export:
    the policy table applied to the whole frame, unnotified negatives left out."""
    from ctown.ingest.models import CurrentValue

    access = request_access(session, actor, subject_id, purpose, "provide")
    if not access.allowed:
        return access, []
    subject = access.subject
    rows = session.execute(sa.select(CurrentValue.subject_id, CurrentValue.indicator_code,
                                     CurrentValue.value_num, CurrentValue.value_text,
                                     CurrentValue.observed_on)
                           .where(CurrentValue.subject_id == subject.id)).all()
    frame = pl.DataFrame([r._asdict() for r in rows], schema={
        "subject_id": pl.Int64, "indicator_code": pl.String, "value_num": pl.Float64,
        "value_text": pl.String, "observed_on": pl.Date})
    catalogue = load_catalogue()
    told = notified(session, subject.id)
    negatives = [c for c, ind in catalogue.indicators.items() if ind.negative]
    frame = frame.filter(~pl.col("indicator_code").is_in(negatives) | pl.concat_str(
        [pl.col("indicator_code"), pl.col("observed_on").cast(pl.String)], separator="|"
    ).is_in([f"{c}|{d}" for c, d in told]))
    sensitivity: dict[str, str] = {c: ind.sensitivity for c, ind in catalogue.indicators.items()}
    types: dict[str, str] = {c: ind.type for c, ind in catalogue.indicators.items()}
    out = masking.apply_to_frame(frame, actor.role, sensitivity, types)
    return access, out.with_columns(pl.col("observed_on").cast(pl.String)).to_dicts()


# -- the household's receipts and the audit page -------------------------------------------------
def household_receipts(session: Session, actor: User, subject_id: int, limit: int = 10
                       ) -> list[dict[str, object]]:
    """The latest changes of the household's file with the ledger leaf that proves each."""
    subject = get_subject_for(session, actor, subject_id)
    log = ledger.get_log(session)
    if log is None:
        return []
    tree = ledger.tree(session, log)
    members = rules.household_members([rules.household_id_of(subject)])
    events = session.scalars(sa.select(ChangeEvent).where(ChangeEvent.subject_id.in_(members))
                             .order_by(ChangeEvent.id.desc()).limit(limit))
    return [{"event": e, "leaf": tree.locate("change_event", e.id)} for e in events]


def audit_page(session: Session, actor: User, action: str | None) -> dict[str, Any]:
    """The audit trail with how much of it is on the ledger and the latest checkpoint."""
    events: list[AuditEvent] = privacy.audit_events(session, actor, action=action)
    log = ledger.get_log(session)
    on_ledger = (ledger.tree(session, log).high_water("audit") if log else None) or 0
    return {"events": events, "on_ledger": on_ledger, "log": log,
            "checkpoint": ledger.latest_checkpoint(session)}
