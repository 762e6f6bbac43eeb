"""Validation of one chunk of a department's rows against its mapping and the catalogue (校验).

Column by column, vectorised: every mapped column is parsed, unit-converted and range-checked over
the whole chunk at once; only the rows that fail are visited in Python, to write their reasons.
The result separates rows that are fine, rows quarantined with reasons, and rows whose only fault
is their identifier (candidates for the name + birth date + village match).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from ctown.catalogue.schemas import Catalogue, Indicator
from ctown.i18n import Message
from ctown.ingest import messages as msg
from ctown.ingest import normalise as nz
from ctown.ingest.mapping import REGISTRY_FIELDS, ColumnMap, DepartmentMapping
from ctown.ingest.messages import Reason
from ctown.ingest.readers import FIELDS, INVALID, ROW

SEQ = "__seq__"
ID = "__identity__"
OBSERVED = "__observed_on__"
KEY = "__key__"
CONTENT = "__content__"
SEP = "\x1f"
NUMERIC = ("integer", "decimal", "boolean")

#: Why a cell was refused, built from its raw text once the failing rows are known.
ReasonFactory = Callable[[str], Reason]


def norm_name(name: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", name))


def header_lookup(mapping: DepartmentMapping) -> dict[str, str]:
    """Normalised header text → canonical column (full-width brackets and spaces do not matter)."""
    lookup = {norm_name(c): c for c in mapping.file_columns()}
    for alias, target in mapping.aliases.items():
        lookup.setdefault(norm_name(alias), target)
    return lookup


@dataclass
class Context:
    mapping: DepartmentMapping
    catalogue: Catalogue
    villages: set[str]
    lookup: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lookup = header_lookup(self.mapping)

    @property
    def identity(self) -> str:
        return self.mapping.identity.column


@dataclass
class Validated:
    ok: pl.DataFrame                      # SEQ, ID, registry fields, indicator codes, OBSERVED…
    failed: dict[int, list[Reason]]       # seq → reasons
    fallback: pl.DataFrame                # rows whose only fault is the identifier
    id_reasons: dict[int, Reason]         # seq → why the identifier was refused (for fallback rows)
    unmapped: list[str]


def canonical_columns(ctx: Context, frame: pl.DataFrame) -> tuple[dict[str, str], list[str]]:
    """Canonical column → the file's column; and the file's columns that feed nothing."""
    found: dict[str, str] = {}
    unmapped: list[str] = []
    for col in frame.columns:
        if col.startswith("__"):
            continue
        canon = ctx.lookup.get(norm_name(col))
        if canon is None or canon in found:
            unmapped.append(col)
        else:
            found[canon] = col
    return found, unmapped


def validate(ctx: Context, frame: pl.DataFrame) -> Validated:
    """``frame`` has the file's columns, ``ROW`` and ``SEQ``."""
    found, unmapped = canonical_columns(ctx, frame)
    checks = _Checks(ctx, frame, found)
    for name, col in ctx.mapping.columns.items():
        checks.column(name, col)
    checks.observed_on()
    checks.invalid_rows()
    return checks.result(unmapped)


class _Checks:
    def __init__(self, ctx: Context, frame: pl.DataFrame, found: dict[str, str]) -> None:
        self.ctx, self.frame, self.found = ctx, frame, found
        self.out: dict[str, pl.Series] = {SEQ: frame[SEQ], ROW: frame[ROW]}
        self.text: dict[str, pl.Series] = {}   # canonical column → normalised text (keys)
        self.errors: list[tuple[pl.Series, str, ReasonFactory]] = []   # (mask, column, factory)
        self.info_errors: list[tuple[pl.Series, str, ReasonFactory]] = []
        self.id_bad: pl.Series | None = None
        self.id_messages: dict[str, Message] = {}
        self.height = frame.height

    # -- helpers ------------------------------------------------------------------------------
    def raw(self, name: str) -> pl.Series | None:
        col = self.found.get(name)
        return self.frame[col] if col is not None else None

    def fail(self, mask: pl.Series, column: str, factory: ReasonFactory, info: bool = False
             ) -> None:
        if mask.any():
            (self.info_errors if info else self.errors).append((mask, column, factory))

    def _info_only(self, col: ColumnMap, name: str) -> bool:
        # Registry fields of a department that does not create subjects (a court's 出生日期) only
        # serve the identity fallback: their faults matter only when the fallback is needed.
        return (not self.ctx.mapping.creates_subjects and col.target in REGISTRY_FIELDS
                and name != self.ctx.identity)

    # -- columns ------------------------------------------------------------------------------
    def column(self, name: str, col: ColumnMap) -> None:
        raw = self.raw(name)
        info = self._info_only(col, name)
        if raw is None:
            if col.required and not info:
                found = [c for c in self.frame.columns if not c.startswith("__")]
                reason = msg.missing_column(name, found)
                self.errors.append((pl.Series([True] * self.height), name, lambda _v: reason))
            return
        if name == self.ctx.identity:  # an empty identifier may still be held (fallback)
            self.identity(name, col, raw)
            return
        if col.required:
            self.fail(~nz.present(raw), name, lambda _v: msg.required(name), info)
        values = self.parse(name, col, raw, info)
        target = col.target
        if target in self.out:   # two columns feed one target: the first non-empty wins
            values = self.out[target].fill_null(values)
        self.out[target] = values.alias(target)
        self.text[name] = values.cast(pl.String)

    def identity(self, name: str, col: ColumnMap, raw: pl.Series) -> None:
        kind = self.ctx.mapping.identity.kind
        if kind == "division_code":
            parsed = nz.parse_division(raw, self.ctx.villages)
            values, bad, messages = parsed.values, parsed.bad, {}
        else:
            ids = nz.parse_identifiers(raw, kind)
            values, bad, messages = ids.values, ids.bad, ids.messages
        self.out[ID] = values.alias(ID)
        self.id_bad = bad | ~nz.present(raw)
        self.id_messages = messages

    def parse(self, name: str, col: ColumnMap, raw: pl.Series, info: bool) -> pl.Series:
        p = col.parser
        ind = self.ctx.catalogue.indicators.get(col.target)
        if p in ("int", "decimal"):
            parsed = nz.parse_number(raw, integer=p == "int" or bool(ind and ind.type == "integer"))
            self.fail(parsed.bad, name, (lambda v: msg.not_integer(name, v)) if p == "int"
                      else (lambda v: msg.not_number(name, v)), info)
            values = parsed.values * col.unit_factor if col.unit_factor != 1 else parsed.values
            if ind is not None:
                self.range(name, raw, values, ind)
            return values
        if p == "date":
            parsed = nz.parse_date(raw)
            self.fail(parsed.bad, name, lambda v: msg.not_date(name, v), info)
            return parsed.values.cast(pl.String) if ind is not None else parsed.values
        if p == "bool":
            parsed = nz.parse_bool(raw, col.codes)
            allowed = list(col.codes) or ["是", "否"]
            self.fail(parsed.bad, name, lambda v: msg.not_bool(name, v, allowed), info)
            return parsed.values
        if p == "code":
            return self.code(name, col, raw, ind, info)
        if p in ("resident_id", "uscc"):
            ids = nz.parse_identifiers(raw, p)
            self.fail(ids.bad, name, lambda v: msg.bad_identifier(name, ids.messages[v]), info)
            return ids.values
        if p == "division_code":
            parsed = nz.parse_division(raw, self.ctx.villages)
            self.fail(parsed.bad, name, lambda v: msg.not_village(name, v), info)
            return parsed.values
        if p == "phone":
            parsed = nz.parse_phone(raw)
            self.fail(parsed.bad, name, lambda v: msg.not_phone(name, v), info)
            return parsed.values
        return nz.clean_text(raw)

    def code(self, name: str, col: ColumnMap, raw: pl.Series, ind: Indicator | None,
             info: bool) -> pl.Series:
        if ind is not None:
            allowed = set(ind.codes)
            labels = {v.zh: k for k, v in ind.codes.items()}
        else:
            allowed, labels = set(col.codes.values()), {}
        parsed = nz.parse_code(raw, col.codes, allowed or None, labels)
        choices = list(col.codes) or sorted(allowed)
        self.fail(parsed.bad, name, lambda v: msg.not_code(name, v, choices), info)
        return parsed.values

    def range(self, name: str, raw: pl.Series, values: pl.Series, ind: Indicator) -> None:
        if ind.min is None and ind.max is None:
            return
        low = values < ind.min if ind.min is not None else pl.Series([False] * len(values))
        high = values > ind.max if ind.max is not None else pl.Series([False] * len(values))
        outside = (low.fill_null(False) | high.fill_null(False))
        by_value = dict(zip(raw.to_list(), values.to_list(), strict=True))
        self.fail(outside, name, lambda v: msg.out_of_range(name, by_value[v], ind.min,
                                                            ind.max, ind.unit))

    def observed_on(self) -> None:
        column = self.ctx.mapping.observed_on
        raw = self.raw(column) if column else None
        if raw is None or column is None:
            self.out[OBSERVED] = pl.Series(OBSERVED, [None] * self.height, dtype=pl.Date)
            return
        parsed = nz.parse_date(raw)
        self.fail(parsed.bad, column, lambda v: msg.not_date(column, v))
        self.out[OBSERVED] = parsed.values.alias(OBSERVED)
        self.text[column] = parsed.values.cast(pl.String)

    def invalid_rows(self) -> None:
        if INVALID not in self.frame.columns:
            return
        width = len([c for c in self.frame.columns if not c.startswith("__")])
        mask = self.frame[INVALID].is_not_null()
        fields = (self.frame[FIELDS] if FIELDS in self.frame.columns
                  else pl.Series([None] * self.height, dtype=pl.String))
        texts = dict(zip(self.frame[INVALID].to_list(), fields.to_list(), strict=True))
        self.fail(mask, INVALID, lambda v: msg.ragged(texts[v], width, v) if texts.get(v)
                  else msg.not_object(v))
        if self.id_bad is not None:
            self.id_bad = self.id_bad & ~mask

    # -- result ---------------------------------------------------------------------------------
    def result(self, unmapped: list[str]) -> Validated:
        failed: dict[int, list[Reason]] = {}
        seqs = self.frame[SEQ]
        for mask, column, factory in self.errors:
            raw = self.frame[self.found[column]] if column in self.found else (
                self.frame[INVALID] if column == INVALID else None)
            for seq, value in _hits(mask, seqs, raw):
                failed.setdefault(seq, []).append(factory(value))
        id_bad = self.id_bad if self.id_bad is not None else pl.Series([True] * self.height)
        if ID not in self.out:
            self.out[ID] = pl.Series(ID, [None] * self.height, dtype=pl.String)
        bad_rows = pl.Series(list(failed), dtype=pl.Int64)
        clean = ~seqs.is_in(bad_rows.to_list())
        for k in self.ctx.mapping.record_key:   # key columns that feed nothing (案号, 保单号)
            raw = self.raw(k)
            if k not in self.text and raw is not None and k != self.ctx.identity:
                self.text[k] = nz.clean_text(raw)
        frame = pl.DataFrame(self.out).with_columns(_content(self.text, self.ctx, self.height))
        ok = frame.filter(clean & ~id_bad)
        maybe = frame.filter(clean & id_bad)
        id_reasons: dict[int, Reason] = {}
        if maybe.height:
            id_reasons = self._identity_reasons(maybe[SEQ])
            info_failed = self._info_failures(maybe[SEQ])
            for seq in info_failed:
                failed[seq] = [id_reasons.pop(seq), *info_failed[seq]]
            maybe = maybe.filter(~maybe[SEQ].is_in(list(info_failed)))
            if self.ctx.mapping.fallback is None:
                for seq in maybe[SEQ].to_list():
                    failed[seq] = [id_reasons.pop(seq)]
                maybe = maybe.clear()
        return Validated(ok, failed, maybe, id_reasons, unmapped)

    def _identity_reasons(self, seqs: pl.Series) -> dict[int, Reason]:
        name = self.ctx.identity
        raw = self.raw(name)
        if raw is None:
            found = [c for c in self.frame.columns if not c.startswith("__")]
            return {s: msg.missing_column(name, found) for s in seqs.to_list()}
        mask = self.frame[SEQ].is_in(seqs.to_list())
        reasons: dict[int, Reason] = {}
        for seq, value in _hits(mask, self.frame[SEQ], raw):
            if value is None or not str(value).strip():
                reasons[seq] = msg.required(name)
            elif value in self.id_messages:
                reasons[seq] = msg.bad_identifier(name, self.id_messages[value])
            else:
                reasons[seq] = msg.not_village(name, value)
        return reasons

    def _info_failures(self, seqs: pl.Series) -> dict[int, list[Reason]]:
        out: dict[int, list[Reason]] = {}
        mask_rows = self.frame[SEQ].is_in(seqs.to_list())
        for mask, column, factory in self.info_errors:
            raw = self.frame[self.found[column]] if column in self.found else None
            for seq, value in _hits(mask & mask_rows, self.frame[SEQ], raw):
                out.setdefault(seq, []).append(factory(value))
        return out


def _hits(mask: pl.Series, seqs: pl.Series, raw: pl.Series | None) -> list[tuple[int, str]]:
    idx = mask.fill_null(False).arg_true()
    values = raw.gather(idx).to_list() if raw is not None else [None] * len(idx)
    return list(zip(seqs.gather(idx).to_list(), values, strict=True))


def _joined(parts: list[pl.Series], height: int, name: str) -> pl.Series:
    if not parts:
        return pl.Series(name, [""] * height, dtype=pl.String)
    return pl.select(pl.concat_str([p.fill_null("") for p in parts], separator=SEP)
                     .alias(name)).to_series()


def _content(text: dict[str, pl.Series], ctx: Context, height: int) -> list[pl.Series]:
    """Normalised text of the record key (without the identifier) and of the whole record."""
    content = _joined([text[k] for k in sorted(text)], height, CONTENT)
    keys = [k for k in ctx.mapping.record_key if k != ctx.identity]
    if any(k not in text for k in keys):
        # A record-key column is missing from the file: only identical records are duplicates.
        return [content.alias(KEY), content]
    return [_joined([text[k] for k in keys], height, KEY), content]
