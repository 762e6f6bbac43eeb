"""Column normalisers (数据清洗): the ways departments write numbers, dates, yes/no and identifiers.

Each parser takes a whole ``String`` column and returns the parsed column and a ``bad`` mask (a
value was given but could not be read); nothing here loops over rows in Python except the
identifier check, which runs once per *distinct* value and only for values the vectorised fast
path could not accept. Messages for bad values are built by :mod:`ctown.ingest.messages`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ctown.i18n import Message
from ctown.registry import identifiers as ids

#: Full-width ASCII (ＡＢＣ１２３，．) and the ideographic space, to their half-width forms.
_FULL = [chr(c) for c in range(0xFF01, 0xFF5F)] + ["\u3000", "\u00a0"]
_HALF = [chr(c - 0xFEE0) for c in range(0xFF01, 0xFF5F)] + [" ", " "]
_FULL_TABLE = str.maketrans(dict(zip(_FULL, _HALF, strict=True)))
_EXCEL_EPOCH = dt.date(1899, 12, 30)  # serial 1 = 1900-01-01 (Excel's 1900 leap-year bug included)
_TRUE = ("是", "y", "yes", "true", "t", "1", "1.0", "有", "√", "✓", "对", "正常")
_FALSE = ("否", "n", "no", "false", "f", "0", "0.0", "无", "×", "✗", "错")


@dataclass
class Parsed:
    values: pl.Series
    bad: pl.Series  # Boolean: a value was present but not readable


def present(s: pl.Series) -> pl.Series:
    return s.is_not_null() & (s.str.strip_chars() != "")


def clean_text(s: pl.Series) -> pl.Series:
    """Half-width, trimmed; empty → null."""
    out = s.str.replace_many(_FULL, _HALF).str.strip_chars()
    return pl.select(pl.when(out == "").then(None).otherwise(out).alias(s.name)).to_series()


def parse_number(s: pl.Series, integer: bool = False) -> Parsed:
    """``1,234.50``, ``１２３``, `` 12 `` → float; thousands separators only in groups of three."""
    text = clean_text(s).str.replace_all(r"\s", "")
    grouped = text.str.contains(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
    text = pl.select(pl.when(grouped).then(text.str.replace_all(",", "")).otherwise(text)
                     ).to_series()
    ok_shape = text.str.contains(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
    number = text.cast(pl.Float64, strict=False)
    # "1e400" or 400 digits cast to ±inf: not a number anyone meant, and no JSON can carry it.
    values = pl.select(pl.when(ok_shape & number.is_finite()).then(number)
                       .alias(s.name)).to_series()
    bad = text.is_not_null() & values.is_null()
    if integer:
        fractional = values.is_not_null() & ((values - values.round(0)).abs() > 1e-9)
        bad = bad | fractional
        values = pl.select(pl.when(fractional).then(None).otherwise(values)).to_series()
    return Parsed(values.alias(s.name), bad.fill_null(False))


_DATE_PATTERNS = (
    r"^(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?$",
    r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$",
    r"^(\d{4})(\d{2})(\d{2})$",
    r"^(\d{4})\s*年\s*(\d{1,2})\s*月()$",
    r"^(\d{4})[-/.](\d{1,2})()$",
)


_DATE_CACHE: dict[str, dt.date | None] = {}
_DATE_CACHE_LIMIT = 200_000


def parse_date(s: pl.Series) -> Parsed:
    """Dates, parsed once per distinct text and remembered across chunks and files (feeds repeat
    the same few data dates), then joined back."""
    distinct = s.drop_nulls().unique().to_list()
    missing = [d for d in distinct if d not in _DATE_CACHE]
    if missing:
        if len(_DATE_CACHE) > _DATE_CACHE_LIMIT:
            _DATE_CACHE.clear()
        parsed = _parse_date(pl.Series(missing, dtype=pl.String))
        _DATE_CACHE.update(zip(missing, parsed.values.to_list(), strict=True))
    table = {d: _DATE_CACHE.get(d) for d in distinct}
    values = s.replace_strict(table, default=None, return_dtype=pl.Date).alias(s.name)
    return Parsed(values, (present(s) & values.is_null()).fill_null(False))


def _parse_date(s: pl.Series) -> Parsed:
    """``2023年5月1日``, ``2023/5/1``, ``2023-05-01``, ``20230501``, ``2023年5月`` (→ the 1st),
    Excel serial numbers (``45047``)."""
    text = clean_text(s)
    ymd = [text.str.extract_groups(p) for p in _DATE_PATTERNS]
    frame = pl.DataFrame({
        part: pl.select(pl.coalesce([g.struct.field(str(i + 1)).replace("", None)
                                     for g in ymd])).to_series()
        for i, part in enumerate(("y", "m", "d"))})
    dates = frame.select(
        pl.when(pl.col("y").is_not_null())
        .then(pl.concat_str([pl.col("y"), pl.col("m").str.zfill(2),
                             pl.col("d").fill_null("01").str.zfill(2)], separator="-"))
        .str.to_date("%Y-%m-%d", strict=False)).to_series()
    serial = text.str.contains(r"^\d{1,5}(\.\d+)?$") & dates.is_null()
    days = pl.select(pl.when(serial).then(text.cast(pl.Float64, strict=False).floor())
                     ).to_series()
    from_serial = pl.select(
        pl.when(days.is_between(1, 2958465))
        .then(pl.lit(_EXCEL_EPOCH) + pl.duration(days=pl.lit(days.cast(pl.Int64))))).to_series()
    values = pl.select(pl.coalesce([dates, from_serial.cast(pl.Date)])).to_series()
    in_range = values.is_between(dt.date(1880, 1, 1), dt.date(2100, 12, 31))
    values = pl.select(pl.when(in_range).then(values)).to_series().alias(s.name)
    return Parsed(values, (text.is_not_null() & values.is_null()).fill_null(False))


def _key(s: pl.Series) -> pl.Series:
    return clean_text(s).str.replace_all(r"\s", "")


def key_text(value: str) -> str:
    """:func:`_key` for one value of a mapping's code table (plain Python: tables are small)."""
    return re.sub(r"\s", "", value.translate(_FULL_TABLE))


def parse_code(s: pl.Series, table: dict[str, str], allowed: set[str] | None,
               labels: dict[str, str] | None = None) -> Parsed:
    """A department value → catalogue code through the mapping's table; a value that already is
    an allowed code (or its Chinese label) is taken as it is."""
    key = _key(s)
    lookup = {key_text(k): v for k, v in table.items()}
    if allowed:
        lookup.update({c: c for c in allowed if c not in lookup})
    if labels:
        lookup.update({k: v for k, v in labels.items() if k not in lookup})
    values = key.replace_strict(lookup, default=None, return_dtype=pl.String)
    if allowed is None and not table:
        values = key
    return Parsed(values.alias(s.name), (key.is_not_null() & values.is_null()).fill_null(False))


def parse_bool(s: pl.Series, table: dict[str, str] | None = None) -> Parsed:
    """是/否, 有/无, Y/N, true/false, 1/0, plus the department's own words (``codes`` → "1"/"0")."""
    key = _key(s).str.to_lowercase()
    lookup = {k: 1.0 for k in _TRUE} | {k: 0.0 for k in _FALSE}
    for k, v in (table or {}).items():
        lookup[key_text(k).lower()] = 1.0 if v in ("1", "true") else 0.0
    values = key.replace_strict(lookup, default=None, return_dtype=pl.Float64)
    return Parsed(values.alias(s.name), (key.is_not_null() & values.is_null()).fill_null(False))


def parse_phone(s: pl.Series) -> Parsed:
    text = clean_text(s).str.replace_all(r"[\s\-()]", "").str.replace(r"^(\+?86)(1\d{10})$",
                                                                         "${2}")
    ok = text.str.contains(r"^(1[3-9]\d{9}|0\d{9,11}|\d{7,8})$")
    values = pl.select(pl.when(ok).then(text)).to_series().alias(s.name)
    return Parsed(values, (text.is_not_null() & ~ok).fill_null(False))


def parse_division(s: pl.Series, villages: set[str]) -> Parsed:
    """A 12-digit village code known to the registry (a 9-digit township code is not a village)."""
    text = _key(s)
    ok = text.is_in(sorted(villages))
    values = pl.select(pl.when(ok).then(text)).to_series().alias(s.name)
    return Parsed(values, (text.is_not_null() & ~ok).fill_null(False))


# -- identifiers ----------------------------------------------------------------------------------

_ID_W = [pow(2, 17 - i, 11) for i in range(17)]


def _fast_resident_ids(text: pl.Series) -> pl.Series:
    """True where an already clean 18-character ID passes every check of ``parse_resident_id``;
    the rest go through the registry parser one distinct value at a time (and get its message)."""
    shaped = text.str.contains(r"^\d{17}[\dX]$")
    frame = pl.DataFrame({"t": text, "shaped": shaped})
    total = pl.sum_horizontal([pl.col("t").str.slice(i, 1).cast(pl.Int32, strict=False) * w
                               for i, w in enumerate(_ID_W)])
    check = pl.lit("10X98765432").str.slice(total % 11, 1)
    birth = pl.col("t").str.slice(6, 8).str.to_date("%Y%m%d", strict=False)
    provinces = sorted(ids._PROVINCES)
    ok = frame.select(
        pl.col("shaped") & (pl.col("t").str.slice(17, 1) == check)
        & pl.col("t").str.slice(0, 2).is_in(provinces)
        & birth.is_between(dt.date(1880, 1, 1), dt.date.today())  # noqa: DTZ011 calendar date
    ).to_series()
    return ok.fill_null(False)


@dataclass
class ParsedIds:
    values: pl.Series            # normalised identifier or null
    bad: pl.Series               # present but refused
    messages: dict[str, Message]  # raw value → why it was refused


def parse_identifiers(s: pl.Series, kind: str) -> ParsedIds:
    """Resident IDs (GB 11643) or credit codes (GB 32100) through ``ctown.registry.identifiers``."""
    raw = s.str.strip_chars()
    raw = pl.select(pl.when(raw == "").then(None).otherwise(raw)).to_series()
    distinct = raw.drop_nulls().unique()
    upper = distinct.str.to_uppercase()
    # Credit codes are few (entities); only resident IDs need the vectorised fast path.
    fast = (_fast_resident_ids(upper) if kind == "resident_id"
            else pl.Series([False] * len(upper), dtype=pl.Boolean))
    mapping = dict(zip(distinct.filter(fast).to_list(), upper.filter(fast).to_list(),
                       strict=True))
    messages: dict[str, Message] = {}
    parse = _parser(kind)
    for value in distinct.filter(~fast).to_list():
        try:
            mapping[value] = parse(value)
        except ids.IdentifierError as exc:
            messages[value] = exc.message
    values = raw.replace_strict(mapping, default=None, return_dtype=pl.String).alias(s.name)
    return ParsedIds(values, (raw.is_not_null() & values.is_null()).fill_null(False), messages)


def _parser(kind: str) -> Callable[[object], str]:
    if kind == "resident_id":
        return lambda v: ids.parse_resident_id(v).value
    if kind == "uscc":
        return ids.parse_uscc
    raise ValueError(f"no identifier parser for {kind!r}")
