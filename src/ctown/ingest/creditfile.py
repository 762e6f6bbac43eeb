"""The credit file (信用档案, R-1.7): current value and full history of every indicator of a
subject, with source department, batch and collection time; and "what did we know on date D".

The as-of view keeps the values *recorded* by the end of day D (China time) and takes, per
indicator, the one with the latest observation date (then the latest recorded) — the same rule
that maintains ``current_values``, so the as-of view of today equals the current view.

:func:`credit_file` is the file as an actor opens it: reached for the purpose ``credit_file``
(officers of the place, the county's oversight, the household and its proxy; never a bank, which
reads a subject's data only through the consented credit report), audited, and written to the
farmer's query log for anyone but the household and its proxy. :func:`build_file` is the file as
a role sees it under the masking table (:mod:`ctown.masking`): each value and each
history entry in clear, masked, or left out — the credit report builds on it.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown import masking
from ctown.access.looks import record_look
from ctown.access.rules import end_of_day
from ctown.access.scope import get_subject_for, is_own_household
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.audit import audit
from ctown.catalogue.schemas import Catalogue, Indicator
from ctown.catalogue.service import load_catalogue
from ctown.i18n import _, translate
from ctown.ingest.models import Batch, CurrentValue, IndicatorValue
from ctown.ingest.schemas import CreditFileOut, IndicatorFile, ValueOut
from ctown.masking import Visibility, mask_name
from ctown.registry.models import Subject


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


class _Sight:
    """How one role sees the values of one file: the masking table, asked once per indicator."""

    def __init__(self, catalogue: Catalogue, role: Role | None, locale: str | None) -> None:
        self.catalogue, self.role, self.locale = catalogue, role, locale
        self._of: dict[str, Visibility] = {}

    def of(self, code: str) -> Visibility:
        """Clear for the county's own job (no role); an unknown code counts as "core"."""
        if code not in self._of:
            ind = self.catalogue.indicators.get(code)
            self._of[code] = (Visibility.clear if self.role is None else
                              masking.visibility(self.role, ind.sensitivity if ind else "core"))
        return self._of[code]

    def value(self, code: str, num: float | None, text: str | None, observed: dt.date,
              department: str, batch_id: int, source: str, recorded: dt.datetime) -> ValueOut:
        raw: float | str | None = num if num is not None else text
        ind = self.catalogue.indicators.get(code)
        shown = display(ind, num, text, self.locale)
        if self.of(code) is Visibility.masked:
            # Masked by the indicator's type: a yes/no stored as 1.0 is no "1–10", a code no "2**".
            raw = shown = masking.mask_value(raw, ind.type if ind else masking.UNKNOWN_TYPE)
        return ValueOut(value=raw, display=shown, observed_on=observed, department=department,
                        batch_id=batch_id, source=source, recorded_at=recorded)


def credit_file(session: Session, actor: User | None, subject_id: int,
                as_of: dt.date | None = None, locale: str | None = None) -> CreditFileOut:
    """The credit file as ``actor`` opens it (``None``: the county's own job, all in clear)."""
    subject = get_subject_for(session, actor, subject_id, "credit_file")
    # Every look at a credit file is audited (who, whose, when) and, unless the household itself
    # looks, shown to the farmer ("who looked at my file", 条例 art. 22) — its proxy's too.
    audit(session, actor, "credit_file.view", f"subject {subject.id}",
          as_of=as_of.isoformat() if as_of else None)
    record_look(session, actor, subject, "credit_file")
    role = Role(actor.role) if actor is not None else None
    return build_file(session, subject, role, own=is_own_household(actor, subject),
                      as_of=as_of, locale=locale)


def build_file(session: Session, subject: Subject, role: Role | None, *, own: bool = False,
               as_of: dt.date | None = None, locale: str | None = None) -> CreditFileOut:
    """The file of a subject already reached, as ``role`` sees it: values of a sensitivity the
    role may not see are left out (current value and history), masked ones shown masked.
    ``own``: the viewer's own household (its name in clear). No access check, no log: callers
    (:func:`credit_file`, the consented credit report) do both."""
    catalogue = load_catalogue()
    sight = _Sight(catalogue, role, locale)
    stmt = (sa.select(IndicatorValue, Batch.source_name)
            .join(Batch, Batch.id == IndicatorValue.batch_id)
            .where(IndicatorValue.subject_id == subject.id)
            .order_by(IndicatorValue.indicator_code, IndicatorValue.observed_on.desc(),
                      IndicatorValue.id.desc()))
    if as_of is not None:
        stmt = stmt.where(IndicatorValue.recorded_at < end_of_day(as_of))
    history: dict[str, list[ValueOut]] = {}
    for v, source in session.execute(stmt):
        if sight.of(v.indicator_code) is Visibility.hidden:
            continue
        history.setdefault(v.indicator_code, []).append(sight.value(
            v.indicator_code, v.value_num, v.value_text, v.observed_on, v.department, v.batch_id,
            source, v.recorded_at))
    current = (_current(session, subject.id, sight) if as_of is None
               else {code: items[0] for code, items in history.items()})
    seen = masking.identity(role, own)
    return CreditFileOut(
        subject_id=subject.id, kind=subject.kind,
        # The file's heading shows the name as the household page does (masking.identity).
        name=subject.name if seen.names or subject.kind in ("entity", "collective")
        else mask_name(subject.name),
        region_code=subject.region_code, as_of=as_of, catalogue_version=catalogue.version,
        indicators=_indicators(catalogue, subject.kind, current, history, sight))


def _current(session: Session, subject_id: int, sight: _Sight) -> dict[str, ValueOut]:
    rows = session.execute(
        sa.select(CurrentValue, Batch.source_name).join(Batch, Batch.id == CurrentValue.batch_id)
        .where(CurrentValue.subject_id == subject_id))
    return {c.indicator_code: sight.value(c.indicator_code, c.value_num, c.value_text,
                                          c.observed_on, c.department, c.batch_id, source,
                                          c.recorded_at)
            for c, source in rows if sight.of(c.indicator_code) is not Visibility.hidden}


def _indicators(catalogue: Catalogue, kind: str, current: dict[str, ValueOut],
                history: dict[str, list[ValueOut]], sight: _Sight) -> list[IndicatorFile]:
    """Every indicator of the catalogue that applies to the subject's kind, then any other code
    that has values (an indicator retired from a later catalogue keeps its history); those the
    viewer may not see at all are left out."""
    codes = [i.code for i in catalogue.for_kind(kind)]
    codes += sorted(set(history) - set(codes))
    out = []
    for code in codes:
        vis = sight.of(code)
        if vis is Visibility.hidden:
            continue
        ind = catalogue.indicators.get(code)
        out.append(IndicatorFile(
            code=code, name_zh=ind.name_zh if ind else code, name_en=ind.name_en if ind else code,
            category=ind.category if ind else "", unit=ind.unit if ind else None,
            visibility="masked" if vis is Visibility.masked else "clear",
            current=current.get(code), history=history.get(code, [])))
    return out
