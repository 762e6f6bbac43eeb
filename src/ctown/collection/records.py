"""The terminal's CSV of records (subject, indicator, value, observed date, officer) → records."""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from ctown.collection.protocol import Record

#: Column names a village officer's spreadsheet may use, in Chinese or English.
COLUMNS = {
    "subject": ("subject", "主体标识", "身份证号", "户号"),
    "indicator": ("indicator", "指标代码", "指标"),
    "value": ("value", "值", "取值"),
    "observed_on": ("observed_on", "观测日期", "日期"),
    "officer": ("officer", "采集员", "信息员"),
}


def _text(raw: bytes) -> str:
    """UTF-8 (with or without BOM) as most tools write it, else GB18030 as Chinese Excel saves."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


def read_csv(path: Path) -> list[Record]:
    frame = pl.read_csv(io.StringIO(_text(path.read_bytes())), infer_schema=False)
    rename: dict[str, str] = {}
    for canonical, names in COLUMNS.items():
        found = next((c for c in frame.columns if c.strip().lower() in names), None)
        if found is None and canonical != "officer":
            raise ValueError(f"{path}: column {canonical!r} missing (one of {', '.join(names)})")
        if found is not None:
            rename[found] = canonical
    frame = frame.rename(rename)
    if "officer" not in frame.columns:
        frame = frame.with_columns(pl.lit("").alias("officer"))
    frame = frame.select(list(COLUMNS)).fill_null("")
    return [Record(**row) for row in frame.iter_rows(named=True)]
