"""三率 computed with Polars over whole frames (see ``frames`` for where the frames come from).

- completeness (数据采集完整率): required indicator slots filled / required slots, where a subject's
  slots are the catalogue's ``required`` indicators that apply to its kind;
- timeliness (信息更新及时率): update days per month — distinct days on which a unit's data changed
  (observation dates), averaged over the window's months;
- stability (系统运行稳定率): successful / all of feed batches, collection uploads (transmission
  failures only: a refused forgery is the system working) and health probes.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

#: Upload log codes that mean "the transmission worked" and "the transmission failed".
UPLOAD_OK = ("accepted", "replay")
UPLOAD_FAILED = ("tampered", "malformed", "too_large")


def _ratio(num: str, den: str, name: str) -> pl.Expr:
    return pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den)).otherwise(None).alias(name)


def completeness_slots(subjects: pl.DataFrame, present: pl.DataFrame, required: pl.DataFrame
                       ) -> pl.DataFrame:
    """One row per (village, kind, indicator, department): slots required and filled."""
    slots = subjects.join(required, on="kind", how="inner")
    return (slots.join(present, on=["village", "kind", "indicator"], how="left")
            .with_columns(pl.col("present").fill_null(0))
            .rename({"subjects": "required"}))


def completeness_by(slots: pl.DataFrame, key: str) -> pl.DataFrame:
    return (slots.group_by(key).agg(pl.col("required").sum(), pl.col("present").sum())
            .with_columns(_ratio("present", "required", "completeness")))


def months_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return pl.date_range(start, end, interval="1mo", eager=True).to_list()


def monthly_updates(days: pl.DataFrame, keys: list[str], months: list[dt.date]) -> pl.DataFrame:
    """Update days per key and month, months without any update included as zero."""
    counted = (days.with_columns(pl.col("day").dt.truncate("1mo").alias("month"))
               .group_by([*keys, "month"]).agg(pl.col("day").n_unique().alias("updates")))
    if not keys:
        grid = pl.DataFrame({"month": months})
    else:
        grid = counted.select(keys).unique().join(pl.DataFrame({"month": months}), how="cross")
    return (grid.join(counted, on=[*keys, "month"], how="left")
            .with_columns(pl.col("updates").fill_null(0).cast(pl.Int64)).sort([*keys, "month"]))


def timeliness_by(days: pl.DataFrame, key: str, months: list[dt.date]) -> pl.DataFrame:
    return (monthly_updates(days, [key], months).group_by(key)
            .agg(pl.col("updates").mean().alias("updates_per_month")))


def department_stability(batches: pl.DataFrame) -> pl.DataFrame:
    return (batches.group_by("department").agg(
        pl.col("n").filter(pl.col("status") == "done").sum().alias("ok"),
        pl.col("n").sum().alias("attempts"))
        .with_columns(_ratio("ok", "attempts", "stability")))


def upload_stability(uploads: pl.DataFrame, key: str) -> pl.DataFrame:
    counted = uploads.filter(pl.col("code").is_in([*UPLOAD_OK, *UPLOAD_FAILED]))
    return (counted.group_by(key).agg(
        pl.col("n").filter(pl.col("code").is_in(UPLOAD_OK)).sum().alias("ok"),
        pl.col("n").sum().alias("attempts"))
        .with_columns(_ratio("ok", "attempts", "stability")))


def overall_stability(batches: pl.DataFrame, uploads: pl.DataFrame, probes: pl.DataFrame
                      ) -> tuple[int, int]:
    """(successes, attempts) over the three sources."""
    ok = (int(batches.filter(pl.col("status") == "done")["n"].sum())
          + int(uploads.filter(pl.col("code").is_in(UPLOAD_OK))["n"].sum())
          + int(probes.filter(pl.col("ok"))["n"].sum()))
    attempts = (int(batches["n"].sum())
                + int(uploads.filter(pl.col("code").is_in([*UPLOAD_OK, *UPLOAD_FAILED]))["n"].sum())
                + int(probes["n"].sum()))
    return ok, attempts
