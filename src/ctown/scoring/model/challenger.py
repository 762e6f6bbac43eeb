"""The gradient-boosting challenger: scikit-learn ``HistGradientBoostingClassifier`` with
monotone constraints taken from the WoE trends, so it cannot learn that more overdue instalments
lower the risk. Categorical features enter as their WoE (rising WoE = rising risk).

The fitted trees are exported to JSON (split feature, threshold, side for missing values, leaf
value) and evaluated with NumPy, so a reloaded challenger needs no pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl
from sklearn.ensemble import HistGradientBoostingClassifier

from ctown.scoring.model.binning import FeatureBins, woe_values

FORMAT = "ctown-gbm"


def design(frame: pl.DataFrame, bins: dict[str, FeatureBins], names: list[str]) -> np.ndarray:
    """Raw values for plain numeric features, WoE for categorical or special-coded ones."""
    cols = []
    for n in names:
        fb = bins[n]
        values = frame[n] if n in frame.columns else pl.Series(n, [None] * frame.height,
                                                                 pl.Float64)
        if fb.dtype == "numerical" and not fb.special_codes:
            cols.append(values.cast(pl.Float64).fill_nan(None).to_numpy())
        else:
            cols.append(woe_values(fb, values))
    return np.column_stack(cols).astype(float)


def constraints(bins: dict[str, FeatureBins], names: list[str]) -> list[int]:
    out = []
    for n in names:
        fb = bins[n]
        raw = fb.dtype == "numerical" and not fb.special_codes
        out.append(fb.trend if raw else 1)
    return out


def fit(x: np.ndarray, y: np.ndarray, monotone: list[int], seed: int = 0
        ) -> HistGradientBoostingClassifier:
    clf = HistGradientBoostingClassifier(
        learning_rate=0.05, max_iter=400, max_leaf_nodes=15, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=True, validation_fraction=0.2,
        n_iter_no_change=30, monotonic_cst=monotone, random_state=seed)
    return clf.fit(x, y)


def to_dict(clf: HistGradientBoostingClassifier, bins: dict[str, FeatureBins],
            names: list[str]) -> dict[str, Any]:
    trees = []
    for (predictor,) in clf._predictors:  # binary: one tree per iteration
        nodes = predictor.nodes
        trees.append({k: nodes[k].tolist() for k in (
            "feature_idx", "num_threshold", "missing_go_to_left", "left", "right", "is_leaf",
            "value")})
    return {"format": FORMAT, "format_version": 1, "kind": "gbm", "features": names,
            "baseline": float(np.ravel(clf._baseline_prediction)[0]), "trees": trees,
            "bins": {n: bins[n].to_dict() for n in names}}


def raw_predict(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Sum of leaf values (log-odds of bad), level by level over all rows at once."""
    total = np.full(len(x), model["baseline"])
    rows = np.arange(len(x))
    for t in model["trees"]:
        feat = np.asarray(t["feature_idx"])
        thr = np.asarray(t["num_threshold"])
        miss_left = np.asarray(t["missing_go_to_left"], dtype=bool)
        left, right = np.asarray(t["left"]), np.asarray(t["right"])
        leaf = np.asarray(t["is_leaf"], dtype=bool)
        node = np.zeros(len(x), dtype=np.int64)
        while not leaf[node].all():
            v = x[rows, feat[node]]
            go_left = np.where(np.isnan(v), miss_left[node], v <= thr[node])
            node = np.where(leaf[node], node, np.where(go_left, left[node], right[node]))
        total += np.asarray(t["value"])[node]
    return total


def predict_pd(model: dict[str, Any], frame: pl.DataFrame) -> np.ndarray:
    bins = {n: FeatureBins(**d) for n, d in model["bins"].items()}
    x = design(frame, bins, model["features"])
    pd: np.ndarray = 1.0 / (1.0 + np.exp(-raw_predict(model, x)))
    return pd
