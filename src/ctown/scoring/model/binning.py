"""Optimal binning (optbinning) turned into plain, portable bins with their own weights of evidence.

Each feature keeps: the split points (numeric) or category groups (categorical), and a weight of
evidence for every regular bin and for the special, missing and unseen-category bins. WoE here is
``ln(share of bads / share of goods)``: positive means riskier. A missing or special value that
never occurred in training gets the riskiest regular bin's WoE — a stated, conservative rule,
never a silent zero.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

#: Index of the extra bins after the k regular ones: k = special, k+1 = missing, k+2 = unseen.
SPECIAL, MISSING, UNSEEN = 0, 1, 2
#: A yes/no feature is the categories "0"/"1" (see ``table.as_category``); PostgreSQL spells a
#: boolean as text ``true``/``false`` (SQLite stores 1/0), so both spellings mean the same bin.
FLAG_TEXT = {"true": "1", "false": "0"}


@dataclass
class FeatureBins:
    name: str
    dtype: str  # "numerical" | "categorical"
    splits: list[float] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)
    special_codes: list[float] = field(default_factory=list)
    #: WoE of the regular bins, then special, missing, unseen (k + 3 values).
    woe: list[float] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    bads: list[int] = field(default_factory=list)
    iv: float = 0.0
    #: +1 bad rate rises with the value, −1 falls, 0 neither (peaked or a single bin).
    trend: int = 0

    @property
    def n_regular(self) -> int:
        return len(self.splits) + 1 if self.dtype == "numerical" else len(self.groups)

    @property
    def is_flag(self) -> bool:
        """A yes/no feature: categorical, and its categories are only "0" and "1"."""
        cats = {c for g in self.groups for c in g}
        return self.dtype == "categorical" and bool(cats) and cats <= {"0", "1"}

    def labels(self) -> list[str]:
        if self.dtype == "numerical":
            edges = ["-inf", *[f"{s:g}" for s in self.splits], "inf"]
            regular = [f"[{a}, {b})" for a, b in itertools.pairwise(edges)]
        else:
            regular = [", ".join(g) for g in self.groups]
        return [*regular, "special", "missing", "unseen"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def assign(fb: FeatureBins, values: pl.Series) -> np.ndarray:
    """Bin index of every value (vectorised)."""
    k = fb.n_regular
    if fb.dtype == "numerical":
        x = values.cast(pl.Float64).to_numpy()
        idx = np.searchsorted(np.asarray(fb.splits, dtype=float), x, side="right")
        if fb.special_codes:
            idx = np.where(np.isin(x, fb.special_codes), k + SPECIAL, idx)
        return np.where(np.isnan(x), k + MISSING, idx)
    mapping = {c: i for i, g in enumerate(fb.groups) for c in g}
    s = flag_text(fb, values.cast(pl.Int8) if values.dtype == pl.Boolean else values)
    idx = s.replace_strict(mapping, default=k + UNSEEN, return_dtype=pl.Int64).to_numpy()
    return np.where(s.is_null().to_numpy(), k + MISSING, idx)


def flag_text(fb: FeatureBins, values: pl.Series) -> pl.Series:
    """Values as category text; a yes/no feature also reads ``true``/``false`` as "1"/"0"."""
    s = values.cast(pl.Utf8)
    return s.replace(FLAG_TEXT) if fb.is_flag else s


def woe_values(fb: FeatureBins, values: pl.Series) -> np.ndarray:
    woe: np.ndarray = np.asarray(fb.woe)[assign(fb, values)]
    return woe


def _optimal_splits(name: str, dtype: str, x: np.ndarray, y: np.ndarray, params: dict[str, Any],
                    special: list[float]) -> list[Any]:
    # Imported here: optbinning (and OR-Tools) take seconds to import; scoring never needs them.
    from optbinning import OptimalBinning

    trend = params.get("trend", "auto_asc_desc") if dtype == "numerical" else "auto"
    ob = OptimalBinning(name=name, dtype=dtype, monotonic_trend=trend,
                        max_n_prebins=params.get("max_n_prebins", 20),
                        min_prebin_size=params.get("min_prebin_size", 0.05),
                        max_n_bins=params.get("max_n_bins"),
                        special_codes=special or None, time_limit=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob.fit(x, y)
    if dtype == "numerical":
        return [float(s) for s in ob.splits]
    return [sorted(str(c) for c in g) for g in ob.splits]


def _finish(fb: FeatureBins, values: pl.Series, y: np.ndarray) -> FeatureBins:
    k = fb.n_regular
    idx = assign(fb, values)
    counts = np.bincount(idx, minlength=k + 3)
    bads = np.bincount(idx, weights=y, minlength=k + 3).astype(int)
    goods = counts - bads
    total_b, total_g = max(int(y.sum()), 1), max(int(len(y) - y.sum()), 1)
    # Half a count of smoothing keeps a pure bin (all good or all bad) finite.
    woe = np.log(((bads + 0.5) / total_b) / ((goods + 0.5) / total_g))
    worst = float(woe[:k].max())
    for extra in (SPECIAL, MISSING, UNSEEN):
        if counts[k + extra] == 0:
            woe[k + extra] = worst
    fb.woe = [float(round(w, 6)) for w in woe]
    fb.counts = [int(c) for c in counts]
    fb.bads = [int(b) for b in bads]
    share_b, share_g = bads / total_b, goods / total_g
    fb.iv = float(np.sum((share_b - share_g) * np.log((share_b + 1e-9) / (share_g + 1e-9))))
    rates = bads[:k] / np.maximum(counts[:k], 1)
    diffs = np.diff(rates)
    fb.trend = 0 if k < 2 else 1 if (diffs >= 0).all() else -1 if (diffs <= 0).all() else 0
    return fb


def fit_feature(name: str, dtype: str, values: pl.Series, y: np.ndarray,
                params: dict[str, Any]) -> FeatureBins:
    special = [float(s) for s in params.get("special_codes", [])] if dtype == "numerical" else []
    if dtype == "numerical":
        x = values.cast(pl.Float64).to_numpy()
        splits = _optimal_splits(name, dtype, x, y, params, special)
        # Ten significant digits: readable in the exported SQL, and the same numbers everywhere.
        fb = FeatureBins(name, dtype, splits=sorted({float(f"{s:.10g}") for s in splits}),
                         special_codes=special)
    else:
        x = values.fill_null("__missing__").to_numpy().astype(object)
        x = np.where(x == "__missing__", np.nan, x)
        fb = FeatureBins(name, dtype, groups=_optimal_splits(name, dtype, x, y, params, []))
    return _finish(fb, values, y)


def fit_bins(frame: pl.DataFrame, y: np.ndarray, numeric: list[str], categorical: list[str],
             params: dict[str, Any] | None = None, n_jobs: int = 1) -> dict[str, FeatureBins]:
    from joblib import Parallel, delayed

    params = params or {}
    jobs = [(n, "numerical") for n in numeric] + [(c, "categorical") for c in categorical]
    fitted = Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(fit_feature)(name, dtype, frame[name], y, params) for name, dtype in jobs)
    return {fb.name: fb for fb in fitted}


def woe_matrix(frame: pl.DataFrame, bins: dict[str, FeatureBins], names: list[str]) -> np.ndarray:
    return np.column_stack([woe_values(bins[n], frame[n]) for n in names])
