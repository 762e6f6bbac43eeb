"""Checking collected records against the catalogue and the registry before they enter the file.

A terminal's batch is small (one officer's visits), so each record's fields are checked in Python;
subject look-ups are done in bulk (one query per identifier kind), never per record.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.catalogue.schemas import Catalogue, Indicator
from ctown.crypto import FieldCipher
from ctown.i18n import Message, _
from ctown.registry.identifiers import IdentifierError, parse_resident_id, parse_uscc
from ctown.registry.models import Subject
from ctown.registry.tasks import resolve

#: Records from a collection point land in the credit file as this department (村信用评议小组).
DEPARTMENT = "village"
_TRUE = {"1", "true", "yes", "y", "是", "有", "√"}
_FALSE = {"0", "false", "no", "n", "否", "无", "×"}


@dataclass
class Checked:
    """What may enter the credit file, and why the rest may not (nothing dropped silently)."""

    values: list[tuple[int, str, object, dt.date]] = field(default_factory=list)
    rejections: list[dict[str, Any]] = field(default_factory=list)
    officers: list[str] = field(default_factory=list)

    def reject(self, row: int, indicator: str, message: Message) -> None:
        self.rejections.append({"row": row, "indicator": indicator[:10], "reason": message.both()})


def collectable(catalogue: Catalogue) -> list[Indicator]:
    """Indicators a village collection point may record: those the village itself is source of,
    except those that need the farmer's written consent (held until consent is on file)."""
    return [i for i in catalogue.indicators.values()
            if i.source == DEPARTMENT and not i.consent_required]


def coerce(ind: Indicator, raw: str) -> tuple[object, Message | None]:
    """The value in the catalogue's type, or why it cannot be one."""
    text = unicodedata.normalize("NFKC", raw).strip().replace(",", "")
    if not text:
        return None, Message(_("指标 {code} 的值为空"), {"code": ind.code})
    try:
        value = _parse(ind, text)
    except (ValueError, InvalidOperation):
        return None, Message(_("指标 {code}（{name}）的值 {value} 不是有效的{type}"),
                             {"code": ind.code, "name": ind.name_zh, "value": raw[:40],
                              "type": ind.type})
    if isinstance(value, int | float) and not isinstance(value, bool) and (
            (ind.min is not None and value < ind.min) or (ind.max is not None and value > ind.max)):
        return None, Message(_("指标 {code}（{name}）的值 {value} 超出允许范围 {min}–{max}"),
                             {"code": ind.code, "name": ind.name_zh, "value": raw[:40],
                              "min": ind.min, "max": ind.max})
    return value, None


def _parse(ind: Indicator, text: str) -> object:
    if ind.type == "integer":
        number = Decimal(text)
        if number != number.to_integral_value():
            raise ValueError(text)
        return int(number)
    if ind.type == "decimal":
        return float(Decimal(text))
    if ind.type == "boolean":
        low = text.lower()
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise ValueError(text)
    if ind.type == "date":
        return dt.date.fromisoformat(text).isoformat()
    if ind.type == "code":
        by_label = {label.zh: code for code, label in ind.codes.items()}
        code = text if text in ind.codes else by_label.get(text)
        if code is None:
            raise ValueError(text)
        return code
    return text[:500]


def _observed(raw: str, today: dt.date) -> dt.date | Message:
    try:
        day = dt.date.fromisoformat(unicodedata.normalize("NFKC", raw).strip())
    except ValueError:
        return Message(_("观测日期 {value} 应写成 YYYY-MM-DD"), {"value": raw[:20]})
    if day > today + dt.timedelta(days=1) or day.year < 1950:
        return Message(_("观测日期 {value} 不在合理范围（不能晚于今天）"),
                       {"value": day.isoformat()})
    return day


def identifier_kind(text: str) -> tuple[str, str]:
    """(kind, normalised identifier): resident_id, uscc, division_code or household_no."""
    if re.fullmatch(r"\d{12}", text):
        return "division_code", text
    try:
        return "resident_id", parse_resident_id(text).value
    except IdentifierError:
        pass
    try:
        return "uscc", parse_uscc(text)
    except IdentifierError:
        return "household_no", text


def check_records(session: Session, cipher: FieldCipher, records: list[Any], *, village_code: str,
                  catalogue: Catalogue, today: dt.date) -> Checked:
    out = Checked()
    pending: list[tuple[int, Indicator, str, str, object, dt.date]] = []
    officers: set[str] = set()
    for row, rec in enumerate(records, start=1):
        parsed = _check_fields(out, row, rec, catalogue, today)
        if parsed is not None:
            ind, value, day, officer = parsed
            kind, ident = identifier_kind(str(rec["subject"]))
            pending.append((row, ind, kind, ident, value, day))
            officers.add(officer)
    ids = _resolve_all(session, cipher, pending)
    facts = _subject_facts(session, {sid for sid in ids.values()})
    for row, ind, kind, ident, value, day in pending:
        sid = ids.get((kind, _target(ind), ident))
        if sid is None:
            out.reject(row, ind.code, Message(_("找不到标识为 {ident} 的主体（{kind}）"),
                                              {"ident": _masked(ident, kind), "kind": kind}))
        elif facts[sid][1] != village_code:
            out.reject(row, ind.code, Message(_("主体不在本采集点所属村 {village}"),
                                              {"village": village_code}))
        elif facts[sid][0] not in ind.applies_to:
            out.reject(row, ind.code, Message(_("指标 {code} 不适用于此类主体（{kind}）"),
                                              {"code": ind.code, "kind": facts[sid][0]}))
        else:
            out.values.append((sid, ind.code, value, day))
    out.officers = sorted(officers)
    out.rejections.sort(key=lambda r: r["row"])
    return out


def _check_fields(out: Checked, row: int, rec: Any, catalogue: Catalogue, today: dt.date
                  ) -> tuple[Indicator, object, dt.date, str] | None:
    if not isinstance(rec, dict) or not all(isinstance(rec.get(k), str) for k in
                                            ("subject", "indicator", "value", "observed_on")):
        out.reject(row, "", Message(_("记录缺少字段（主体、指标、值、观测日期）")))
        return None
    code = rec["indicator"].strip().upper()
    ind = catalogue.indicators.get(code)
    if ind is None:
        out.reject(row, code, Message(_("指标代码 {code} 不在指标目录（第 {version} 版）中"),
                                      {"code": code[:10], "version": catalogue.version}))
        return None
    if ind.source != DEPARTMENT:
        out.reject(row, code, Message(
            _("指标 {code}（{name}）由部门 {source} 报送，采集点不能采集"),
            {"code": code, "name": ind.name_zh, "source": ind.source}))
        return None
    if ind.consent_required:
        # No consent register is consulted here yet: refuse rather than store without consent.
        out.reject(row, code, Message(
            _("指标 {code}（{name}）需农户书面授权，采集点不能直接采集：请在授权登记后由县平台录入"),
            {"code": code, "name": ind.name_zh}))
        return None
    value, problem = coerce(ind, rec["value"])
    day = _observed(rec["observed_on"], today)
    if problem is not None:
        out.reject(row, code, problem)
        return None
    if isinstance(day, Message):
        out.reject(row, code, day)
        return None
    return ind, value, day, str(rec.get("officer") or "")[:50]


def _target(ind: Indicator) -> str:
    """Which kind of subject a resident ID stands for under this indicator."""
    return "household" if "household" in ind.applies_to else "person"


def _resolve_all(session: Session, cipher: FieldCipher,
                 pending: list[tuple[int, Indicator, str, str, object, dt.date]]
                 ) -> dict[tuple[str, str, str], int]:
    groups: dict[tuple[str, str], set[str]] = {}
    for _row, ind, kind, ident, _v, _d in pending:
        groups.setdefault((kind, _target(ind)), set()).add(ident)
    found: dict[tuple[str, str, str], int] = {}
    for (kind, target), idents in groups.items():
        if kind == "household_no":
            rows = session.execute(sa.select(Subject.household_no, Subject.id).where(
                Subject.household_no.in_(sorted(idents)), Subject.kind == "household"))
            hits = {str(k): i for k, i in rows}
        else:
            hits = resolve(session, cipher, kind, sorted(idents), subject_kind=target)
        found.update({(kind, target, k): v for k, v in hits.items()})
    return found


def _subject_facts(session: Session, ids: set[int]) -> dict[int, tuple[str, str]]:
    if not ids:
        return {}
    rows = session.execute(sa.select(Subject.id, Subject.kind, Subject.region_code)
                           .where(Subject.id.in_(sorted(ids))))
    return {sid: (kind, region) for sid, kind, region in rows}


def _masked(ident: str, kind: str) -> str:
    """Reasons are stored and shown: a resident ID never appears in them in clear."""
    if kind == "resident_id":
        return ident[:4] + "*" * 10 + ident[-4:]
    return ident[:40]
