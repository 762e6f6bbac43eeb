"""Canonical form and digest of an indicator value (the bytes the ledger commits to, 存证).

Each stored value carries ``digest`` = SHA-256 of its canonical record, so the ledger can append
values without a change event per value. The canonical record is the values of :data:`FIELDS`,
joined by the unit separator (U+001F), with ``value_num`` as an integer number of millionths (no
float formatting involved), dates and times in ISO 8601 UTC, and an empty string for null. One
vectorised function computes it for loads and for verification, so the two cannot drift apart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

FIELDS = ("subject_id", "indicator_code", "value_num", "value_text", "observed_on", "batch_id",
          "department", "catalogue_version", "recorded_at")
SEP = "\x1f"


def canonical(frame: pl.DataFrame) -> pl.Series:
    """The canonical text of each value record in ``frame`` (columns :data:`FIELDS`)."""
    parts = []
    for name in FIELDS:
        if name in _CONSTANT_PER_BATCH and frame[name].n_unique() == 1:
            # One batch has one recorded_at, department…: format it once, not per value.
            parts.append(pl.lit(_text(name, frame[name][0])))
            continue
        col = pl.col(name)
        if name == "value_num":
            col = (col * 1_000_000).round(0).cast(pl.Int64)
        elif name == "recorded_at":
            col = col.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        elif name == "observed_on":  # few distinct dates: format each once
            distinct = frame[name].unique().drop_nulls()
            col = col.replace_strict(dict(zip(distinct.to_list(), distinct.cast(pl.String).to_list(),
                                              strict=True)), default=None, return_dtype=pl.String)
        parts.append(col.cast(pl.String).fill_null(""))
    return frame.select(pl.concat_str(parts, separator=SEP).alias("canonical")).to_series()


_CONSTANT_PER_BATCH = ("batch_id", "department", "catalogue_version", "recorded_at")


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name == "recorded_at":
        return str(value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"))
    return str(value)


def digests(frame: pl.DataFrame) -> pl.Series:
    sha = hashlib.sha256
    texts = canonical(frame).cast(pl.Binary).to_list()  # UTF-8 bytes, encoded by Polars
    return pl.Series("digest", [sha(t).hexdigest() for t in texts], dtype=pl.String)


def rows_frame(rows: Sequence[dict[str, Any]]) -> pl.DataFrame:
    """Stored value rows (dicts with :data:`FIELDS`) as a frame with the load's column types."""
    return pl.DataFrame(
        {f: [r[f] for r in rows] for f in FIELDS},
        schema={"subject_id": pl.Int64, "indicator_code": pl.String, "value_num": pl.Float64,
                "value_text": pl.String, "observed_on": pl.Date, "batch_id": pl.Int64,
                "department": pl.String, "catalogue_version": pl.Int64,
                "recorded_at": pl.Datetime("us", "UTC")})


def verify(rows: Iterable[Any]) -> list[bool]:
    """Whether each stored ``IndicatorValue`` still matches its digest (ledger audits)."""
    items = list(rows)
    if not items:
        return []
    data = [{f: _plain(getattr(r, f)) for f in FIELDS} for r in items]
    fresh = digests(rows_frame(data)).to_list()
    return [a == r.digest for a, r in zip(fresh, items, strict=True)]


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value
