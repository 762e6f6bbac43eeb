"""Realistic defects in department feeds, injected at a controlled rate and counted exactly.

Each defective row carries exactly one defect, so the counts in ``manifest.json`` say precisely
what a loader must report: ``ACCEPTED`` defects are spelling a loader must normalise, ``REJECTED``
ones must be quarantined (or held for a person when the department sends name, birth date and
village: ``HELD``), and ``duplicate`` rows are exact re-sent copies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from ctown.catalogue.schemas import Catalogue
from ctown.ingest.mapping import DepartmentMapping
from ctown.synth.formats import date_text, thousands
from ctown.synth.population import check_chars

ACCEPTED = ("fullwidth_digits", "old_15_digit", "date_format", "thousands_separator")
REJECTED = ("bad_check_char", "excel_scientific", "excel_truncated", "missing_required",
            "out_of_range", "unknown_code")
HELD = ("no_id_fallback",)
DUPLICATE = ("duplicate",)
# Kinds that only some rows can take come first; the last ones (any row will do) absorb what the
# earlier ones could not place, so the total is exactly the rate asked for.
ORDER = ("thousands_separator", "excel_truncated", "excel_scientific", "old_15_digit", "date_format",
         "unknown_code", "out_of_range", "no_id_fallback", "missing_required", "bad_check_char",
         "fullwidth_digits", "duplicate")
_FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
_ID_CHECK = "10X98765432"
_USCC_SET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_OTHER_STYLES = ("zh", "slash", "ymd", "serial", "iso")


class Plan:
    """Which columns of a department each defect touches."""

    def __init__(self, mapping: DepartmentMapping, catalogue: Catalogue, date_style: str,
                 frame: pl.DataFrame) -> None:
        self.mapping = mapping
        self.id_col = mapping.identity.column
        self.id_kind = mapping.identity.kind
        self.date_style = date_style
        cols = mapping.columns
        self.required = [c for c, m in cols.items() if m.required and c != self.id_col]
        self.numeric = [c for c, m in cols.items() if m.parser in ("int", "decimal")
                        and m.target in catalogue.indicators
                        and catalogue.get(m.target).max is not None]
        self.units = {c: (catalogue.get(cols[c].target).max or 0) / cols[c].unit_factor
                      for c in self.numeric}
        self.codes = [c for c, m in cols.items() if m.parser == "code"]
        decimals = [c for c, m in cols.items() if m.parser == "decimal"]
        medians = {c: frame[c].cast(pl.Float64, strict=False).median() or 0 for c in decimals}
        self.money = max(medians, key=lambda c: (medians[c], c)) if medians else None

    def kinds(self) -> list[str]:
        out = ["bad_check_char", "fullwidth_digits", "duplicate", "missing_required"]
        if self.id_kind == "resident_id":
            out += ["excel_scientific", "excel_truncated", "old_15_digit"]
        if self.mapping.observed_on:
            out.append("date_format")
        if self.money:
            out.append("thousands_separator")
        if self.numeric:
            out.append("out_of_range")
        if self.codes:
            out.append("unknown_code")
        if self.mapping.fallback:
            out.append("no_id_fallback")
        return [k for k in ORDER if k in out]


def inject(frame: pl.DataFrame, plan: Plan, rate: float, rng: np.random.Generator
           ) -> tuple[pl.DataFrame, dict[str, int], dict[str, np.ndarray]]:
    """``frame`` with defects in about ``rate`` of its rows (plus duplicate rows), the counts, and
    the (original) row numbers each kind of defect went to."""
    n = frame.height
    kinds = plan.kinds()
    remaining = round(rate * n)
    taken = np.zeros(n, dtype=bool)
    counts: dict[str, int] = {}
    placed: dict[str, np.ndarray] = {}
    duplicates = np.array([], dtype=np.int64)
    for i, kind in enumerate(kinds):
        left = len(kinds) - i
        quota = remaining // left + (remaining % left > 0)
        eligible = _eligible(frame, plan, kind) & ~taken
        pool = np.flatnonzero(eligible)
        rows = np.sort(rng.permutation(pool)[:quota]) if quota else pool[:0]
        remaining -= rows.size
        taken[rows] = True
        counts[kind] = int(rows.size)
        placed[kind] = rows
        if kind == "duplicate":
            duplicates = rows
        elif rows.size:
            frame = _apply(frame, plan, kind, rows)
    if duplicates.size:
        frame = pl.concat([frame, frame[duplicates]])
    return frame, counts, placed


def _digits_only(frame: pl.DataFrame, col: str) -> np.ndarray:
    return frame[col].str.contains(r"^\d{18}$").fill_null(False).to_numpy()


def _eligible(frame: pl.DataFrame, plan: Plan, kind: str) -> np.ndarray:
    n = frame.height
    has_id = frame[plan.id_col].is_not_null().to_numpy()
    if kind == "excel_scientific":
        return _digits_only(frame, plan.id_col)
    if kind == "excel_truncated":
        ok = _digits_only(frame, plan.id_col)
        first15 = (frame[plan.id_col].str.slice(0, 15).cast(pl.Int64, strict=False)
                   .fill_null(0).to_numpy())
        # Truncation must break the check: when the check of xxx00 happens to be 0, skip the row.
        eligible: np.ndarray = ok & (check_chars(first15 * 100) != "0")
        return eligible
    if kind == "old_15_digit":  # first-generation IDs (1984–2004) exist only for the 19xx-born
        born_19xx: np.ndarray = _digits_only(frame, plan.id_col) & frame[plan.id_col].str.slice(
            6, 2).eq("19").fill_null(False).to_numpy()
        return born_19xx
    if kind == "date_format":
        return frame["_date"].is_not_null().to_numpy()
    if kind == "thousands_separator" and plan.money:
        return (frame[plan.money].cast(pl.Float64, strict=False).fill_null(0) >= 1000).to_numpy()
    if kind == "unknown_code":
        return frame[plan.codes[0]].is_not_null().to_numpy()
    return has_id if kind != "duplicate" else np.ones(n, dtype=bool)


def _set(frame: pl.DataFrame, col: str, rows: np.ndarray, values: Sequence[str | None]
         ) -> pl.DataFrame:
    series = frame[col].clone().scatter(rows, pl.Series(values, dtype=pl.String))
    return frame.with_columns(series.alias(col))


def _apply(frame: pl.DataFrame, plan: Plan, kind: str, rows: np.ndarray) -> pl.DataFrame:
    ids = frame[plan.id_col].gather(rows).to_list()
    if kind == "bad_check_char":
        return _set(frame, plan.id_col, rows, [_wrong_check(v, plan.id_kind, i)
                                               for i, v in enumerate(ids)])
    if kind == "excel_scientific":
        return _set(frame, plan.id_col, rows, [f"{int(v) / 1e17:.5f}E+17" for v in ids])
    if kind == "excel_truncated":
        return _set(frame, plan.id_col, rows, [v[:15] + "000" for v in ids])
    if kind == "old_15_digit":
        return _set(frame, plan.id_col, rows, [v[:6] + v[8:17] for v in ids])
    if kind == "fullwidth_digits":
        return _set(frame, plan.id_col, rows, [v.translate(_FULLWIDTH) for v in ids])
    if kind == "no_id_fallback":
        return _set(frame, plan.id_col, rows, [None] * rows.size)
    if kind == "missing_required":
        return _missing(frame, plan, rows)
    if kind == "date_format":
        return _dates(frame, plan, rows)
    if kind == "thousands_separator" and plan.money:
        values = frame.select(thousands(pl.col(plan.money)))[plan.money].gather(rows).to_list()
        return _set(frame, plan.money, rows, values)
    if kind == "out_of_range":
        col = plan.numeric[0]
        bad = [str(int(plan.units[col] * 3) + 7) if i % 2 == 0 else "-5"
               for i in range(rows.size)]
        return _set(frame, col, rows, bad)
    if kind == "unknown_code":
        return _set(frame, plan.codes[0], rows, ["不详"] * rows.size)
    raise ValueError(kind)


def _wrong_check(value: str, kind: str, i: int) -> str:
    if kind == "resident_id":
        right = _ID_CHECK.index(value[17])
        return value[:17] + _ID_CHECK[(right + 1 + i % 10) % 11]
    right = _USCC_SET.index(value[17])
    return value[:17] + _USCC_SET[(right + 1 + i % 30) % 31]


def _missing(frame: pl.DataFrame, plan: Plan, rows: np.ndarray) -> pl.DataFrame:
    if plan.required:
        return _set(frame, plan.required[0], rows, [None] * rows.size)
    # No other required column: the identifier itself is missing, and with it the fallback name,
    # so the row cannot even be held for confirmation.
    frame = _set(frame, plan.id_col, rows, [None] * rows.size)
    if plan.mapping.fallback:
        frame = _set(frame, plan.mapping.fallback.name, rows, [None] * rows.size)
    return frame


def _dates(frame: pl.DataFrame, plan: Plan, rows: np.ndarray) -> pl.DataFrame:
    col = plan.mapping.observed_on
    assert col is not None
    styles = [s for s in _OTHER_STYLES if s != plan.date_style]
    dates = frame.select("_date")[rows]
    values: list[str | None] = [None] * rows.size
    for k, style in enumerate(styles):
        picked = np.arange(k, rows.size, len(styles))
        texts = dates[picked].select(date_text(pl.col("_date"), style))["_date"].to_list()
        for i, text in zip(picked, texts, strict=True):
            values[i] = text
    return _set(frame, col, rows, values)
