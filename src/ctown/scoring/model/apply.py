"""Vectorised scoring of a loaded scorecard with Polars: one ``when/then`` chain per feature,
no row loop. Integer points, so the result equals the SQL export's to the point."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from ctown.scoring.model.binning import FLAG_TEXT, MISSING, SPECIAL, UNSEEN, FeatureBins
from ctown.scoring.model.scorecard import Scorecard

if TYPE_CHECKING:  # the types of pl.when(...).then(...) and of a .when(...).then(...) after it
    from polars.expr.whenthen import ChainedThen, Then


def points_expr(fb: FeatureBins, points: list[int]) -> pl.Expr:
    k = fb.n_regular
    if fb.dtype == "numerical":
        c = pl.col(fb.name).cast(pl.Float64)
        expr: Then | ChainedThen = pl.when(c.is_null() | c.is_nan()).then(
            pl.lit(points[k + MISSING]))
        if fb.special_codes:
            expr = expr.when(c.is_in(fb.special_codes)).then(pl.lit(points[k + SPECIAL]))
        for split, p in zip(fb.splits, points[:k - 1], strict=True):
            expr = expr.when(c < split).then(pl.lit(p))
        return expr.otherwise(pl.lit(points[k - 1])).cast(pl.Int64)
    c = pl.col(fb.name).cast(pl.Utf8)
    if fb.is_flag:  # "true"/"false" (PostgreSQL's spelling of a boolean) are "1"/"0"
        c = c.replace(FLAG_TEXT)
    mapping = {cat: points[i] for i, g in enumerate(fb.groups) for cat in g}
    known = c.replace_strict(mapping, default=points[k + UNSEEN], return_dtype=pl.Int64)
    return pl.when(c.is_null()).then(pl.lit(points[k + MISSING], pl.Int64)).otherwise(known)


def _ensure_columns(frame: pl.DataFrame, card: Scorecard) -> pl.DataFrame:
    """A feature absent from the file scores as missing (its own points), never as zero."""
    missing = [fb.name for fb in card.features if fb.name not in frame.columns]
    if missing:
        frame = frame.with_columns([pl.lit(None).alias(n) for n in missing])
    # Booleans are categories "0"/"1", as in training (see table.as_category).
    flags = [n for n, t in frame.schema.items() if t == pl.Boolean and n in card.names]
    return frame.with_columns([pl.col(n).cast(pl.Int8) for n in flags]) if flags else frame


def feature_points(frame: pl.DataFrame, card: Scorecard) -> pl.DataFrame:
    frame = _ensure_columns(frame, card)
    return frame.select([points_expr(fb, card.points[fb.name]).alias(fb.name)
                         for fb in card.features])


def score_frame(frame: pl.DataFrame, card: Scorecard) -> pl.Series:
    frame = _ensure_columns(frame, card)
    total = pl.sum_horizontal([points_expr(fb, card.points[fb.name]) for fb in card.features])
    return frame.select((pl.lit(card.base, pl.Int64) + total).alias("score")).to_series()


def pd_frame(card: Scorecard, score: pl.Series) -> np.ndarray:
    return card.pd_of(score.to_numpy())
