"""The credit file (信用档案, R-1.7): current value and full history of every indicator of a
subject, with source department, batch and collection time; and "what did we know on date D".

The as-of view keeps the values *recorded* by the end of day D (China time) and takes, per
indicator, the one with the latest observation date (then the latest recorded) — the same rule
that maintains ``current_values``, so the as-of view of today equals the current view.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.scope import get_subject_for
from ctown.accounts.models import User
from ctown.accounts.roles import CLEAR_IDENTIFIER_ROLES, Role
from ctown.catalogue.schemas import Catalogue, Indicator
from ctown.catalogue.service import load_catalogue
from ctown.i18n import _, translate
from ctown.ingest.models import Batch, CurrentValue, IndicatorValue
from ctown.ingest.schemas import CreditFileOut, IndicatorFile, ValueOut
from ctown.privacy.masking import mask_name
from ctown.privacy.service import audit

CHINA = ZoneInfo("Asia/Shanghai")


def end_of_day(day: dt.date) -> dt.datetime:
    """The first instant after ``day`` in China time, in UTC."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), CHINA).astimezone(dt.UTC)


def display(ind: Indicator | None, num: float | None, text: str | None, locale: str | None) -> str:
    if ind is None:
        return text if text is not None else ("" if num is None else f"{num:g}")
    if ind.type == "boolean" and num is not None:
        return translate(_("是") if num else _("否"), locale)
    if ind.type == "code" and text is not None:
        label = ind.codes.get(text)
        return (label.en if locale == "en" else label.zh) if label else text
    if num is not None:
        shown = f"{num:,.0f}" if ind.type == "integer" or float(num).is_integer() else f"{num:,.2f}"
        return f"{shown} {ind.unit}" if ind.unit else shown
    return text or ""


def _value(ind: Indicator | None, num: float | None, text: str | None, observed: dt.date,
           department: str, batch_id: int, source: str, recorded: dt.datetime,
           locale: str | None) -> ValueOut:
    return ValueOut(value=num if num is not None else text, display=display(ind, num, text, locale),
                    observed_on=observed, department=department, batch_id=batch_id,
                    source=source, recorded_at=recorded)


def credit_file(session: Session, actor: User, subject_id: int, as_of: dt.date | None = None,
                locale: str | None = None) -> CreditFileOut:
    subject = get_subject_for(session, actor, subject_id)
    # Every look at a credit file is logged (who, whose, when), like credit-report queries.
    audit(session, actor, "credit_file.view", f"subject {subject.id}",
          as_of=as_of.isoformat() if as_of else None)
    catalogue = load_catalogue()
    stmt = (sa.select(IndicatorValue, Batch.source_name)
            .join(Batch, Batch.id == IndicatorValue.batch_id)
            .where(IndicatorValue.subject_id == subject.id)
            .order_by(IndicatorValue.indicator_code, IndicatorValue.observed_on.desc(),
                      IndicatorValue.id.desc()))
    if as_of is not None:
        stmt = stmt.where(IndicatorValue.recorded_at < end_of_day(as_of))
    history: dict[str, list[ValueOut]] = {}
    for v, source in session.execute(stmt):
        ind = catalogue.indicators.get(v.indicator_code)
        history.setdefault(v.indicator_code, []).append(_value(
            ind, v.value_num, v.value_text, v.observed_on, v.department, v.batch_id, source,
            v.recorded_at, locale))
    current = (_current(session, subject.id, catalogue, locale) if as_of is None
               else {code: items[0] for code, items in history.items()})
    role = Role(actor.role)
    reveal = role in CLEAR_IDENTIFIER_ROLES or (role == Role.farmer and actor.subject_id in (
        subject.id, subject.household_id))
    return CreditFileOut(
        subject_id=subject.id, kind=subject.kind,
        name=subject.name if reveal or subject.kind in ("entity", "collective")
        else mask_name(subject.name),
        region_code=subject.region_code, as_of=as_of, catalogue_version=catalogue.version,
        indicators=_indicators(catalogue, subject.kind, current, history))


def _current(session: Session, subject_id: int, catalogue: Catalogue, locale: str | None
             ) -> dict[str, ValueOut]:
    rows = session.execute(
        sa.select(CurrentValue, Batch.source_name).join(Batch, Batch.id == CurrentValue.batch_id)
        .where(CurrentValue.subject_id == subject_id))
    return {c.indicator_code: _value(catalogue.indicators.get(c.indicator_code), c.value_num,
                                     c.value_text, c.observed_on, c.department, c.batch_id,
                                     source, c.recorded_at, locale) for c, source in rows}


def _indicators(catalogue: Catalogue, kind: str, current: dict[str, ValueOut],
                history: dict[str, list[ValueOut]]) -> list[IndicatorFile]:
    """Every indicator of the catalogue that applies to the subject's kind, then any other code
    that has values (an indicator retired from a later catalogue keeps its history)."""
    codes = [i.code for i in catalogue.for_kind(kind)]
    codes += sorted(set(history) - set(codes))
    out = []
    for code in codes:
        ind = catalogue.indicators.get(code)
        out.append(IndicatorFile(
            code=code, name_zh=ind.name_zh if ind else code, name_en=ind.name_en if ind else code,
            category=ind.category if ind else "", unit=ind.unit if ind else None,
            current=current.get(code), history=history.get(code, [])))
    return out
