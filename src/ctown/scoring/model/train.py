"""Training: stratified holdout, binning, cross-validated scorecard, GBM challenger, the winner.

Only the training part is used to choose bins, features, regularisation and calibration (5-fold
cross-validation); the holdout is touched once, to measure both models and pick the winner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.model_selection import StratifiedKFold, train_test_split

from ctown.scoring.grades import Scale
from ctown.scoring.model import challenger, metrics
from ctown.scoring.model.apply import score_frame
from ctown.scoring.model.binning import FeatureBins, assign, fit_bins, woe_matrix
from ctown.scoring.model.scorecard import Scorecard, build, calibrate, fit_logistic, score_bins
from ctown.scoring.model.table import Prepared, as_category, fingerprint, prepare

C_GRID = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
IV_GRID = (0.0, 0.02)
#: Monotonic trends tried for numeric bins: strictly rising/falling, or optbinning's automatic
#: choice (which may also pick a peak or a valley), chosen by cross-validated AUC.
TRENDS = ("auto_asc_desc", "auto")


@dataclass
class Options:
    exclude: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    special_codes: tuple[float, ...] = ()
    scale: Scale = field(default_factory=Scale)
    test_size: float = 0.3
    seed: int = 42
    folds: int = 5
    challenger: bool = True


@dataclass
class TrainResult:
    winner: str
    card: Scorecard
    gbm: dict[str, Any] | None
    report: dict[str, Any]


def _split(prep: Prepared, holdout: pl.DataFrame | None, target: str, opts: Options
           ) -> tuple[pl.DataFrame, np.ndarray, pl.DataFrame, np.ndarray]:
    if holdout is not None:
        hp = prepare(holdout, target, exclude=opts.exclude, categorical=opts.categorical)
        cols = []
        for n in prep.numeric + prep.categorical:
            s = hp.features[n] if n in hp.features.columns else pl.Series(n, [None] * len(hp.y))
            cols.append(s.cast(pl.Float64) if n in prep.numeric else as_category(s))
        return prep.features, prep.y, pl.DataFrame(cols), hp.y
    idx = np.arange(len(prep.y))
    tr, ho = train_test_split(idx, test_size=opts.test_size, stratify=prep.y,
                              random_state=opts.seed)
    return prep.features[tr], prep.y[tr], prep.features[ho], prep.y[ho]


def _cv_choice(w: np.ndarray, y: np.ndarray, ivs: np.ndarray, opts: Options
               ) -> tuple[float, float, float]:
    """(min IV, C, mean CV AUC) with the best cross-validated AUC on the training part."""
    folds = list(StratifiedKFold(opts.folds, shuffle=True, random_state=opts.seed).split(w, y))
    best = (0.0, 1.0, -1.0)
    for min_iv in IV_GRID:
        keep = ivs >= min_iv
        if not keep.any():
            continue
        for c in C_GRID:
            aucs = [metrics.auc(y[te], fit_logistic(w[tr][:, keep], y[tr], c)
                                .decision_function(w[te][:, keep])) for tr, te in folds]
            if np.mean(aucs) > best[2] + 1e-4:
                best = (min_iv, c, float(np.mean(aucs)))
    return best


def _oof_scores(bins: list[FeatureBins], idx: dict[str, np.ndarray], w: np.ndarray,
                y: np.ndarray, c: float, opts: Options) -> np.ndarray:
    """Out-of-fold integer scores: what the calibration learns the score → PD mapping from."""
    oof = np.zeros(len(y), dtype=np.int64)
    for tr, te in StratifiedKFold(opts.folds, shuffle=True, random_state=opts.seed + 1).split(w, y):
        card = build(bins, fit_logistic(w[tr], y[tr], c), opts.scale)
        oof[te] = score_bins(card, {k: v[te] for k, v in idx.items()})
    return oof


def fit_scorecard(x: pl.DataFrame, y: np.ndarray, bins: dict[str, FeatureBins], opts: Options
                  ) -> tuple[Scorecard, dict[str, Any]]:
    names = [n for n in sorted(bins, key=lambda n: -bins[n].iv) if bins[n].iv > 0]
    w = woe_matrix(x, bins, names)
    min_iv, c, cv_auc = _cv_choice(w, y, np.array([bins[n].iv for n in names]), opts)
    names = [n for n in names if bins[n].iv >= min_iv]
    w = woe_matrix(x, bins, names)
    chosen = [bins[n] for n in names]
    card = build(chosen, fit_logistic(w, y, c), opts.scale)
    idx = {n: assign(bins[n], x[n]) for n in names}
    calibrate(card, _oof_scores(chosen, idx, w, y, c, opts), y)
    return card, {"C": c, "min_iv": min_iv, "cv_auc": round(cv_auc, 4)}


def fit_best(x: pl.DataFrame, y: np.ndarray, prep: Prepared, opts: Options
             ) -> tuple[Scorecard, dict[str, FeatureBins], dict[str, Any]]:
    """Bins and scorecard for each trend setting; the best cross-validated AUC wins."""
    best: tuple[Scorecard, dict[str, FeatureBins], dict[str, Any]] | None = None
    for trend in TRENDS:
        params = {"special_codes": list(opts.special_codes), "trend": trend}
        bins = fit_bins(x, y, prep.numeric, prep.categorical, params)
        card, tuning = fit_scorecard(x, y, bins, opts)
        if best is None or tuning["cv_auc"] > best[2]["cv_auc"]:
            best = (card, bins, {**tuning, "trend": trend})
    assert best is not None
    return best


def scorecard_table(card: Scorecard) -> list[dict[str, Any]]:
    rows = []
    for fb in card.features:
        labels = fb.labels()
        for i, label in enumerate(labels):
            n = fb.counts[i] if i < len(fb.counts) else 0
            if n == 0 and i >= fb.n_regular:
                label += " (unobserved: riskiest bin's WoE)"
            rows.append({"feature": fb.name, "bin": label, "count": n,
                         "bad_rate": round(fb.bads[i] / n, 4) if n else None,
                         "woe": fb.woe[i], "points": card.points[fb.name][i]})
    return rows


def train_model(frame: pl.DataFrame, target: str, holdout: pl.DataFrame | None = None,
                opts: Options | None = None) -> TrainResult:
    opts = opts or Options()
    prep = prepare(frame, target, exclude=opts.exclude, categorical=opts.categorical)
    x_tr, y_tr, x_ho, y_ho = _split(prep, holdout, target, opts)
    card, bins, tuning = fit_best(x_tr, y_tr, prep, opts)
    ho_score = score_frame(x_ho, card).to_numpy()
    results = {"scorecard": metrics.summary(y_ho, -ho_score)}
    pds = {"scorecard": card.pd_of(ho_score)}
    gbm = None
    if opts.challenger:
        names = card.names
        clf = challenger.fit(challenger.design(x_tr, bins, names), y_tr,
                             challenger.constraints(bins, names), opts.seed)
        gbm = challenger.to_dict(clf, bins, names)
        pds["gbm"] = challenger.predict_pd(gbm, x_ho)
        results["gbm"] = metrics.summary(y_ho, pds["gbm"])
    winner = max(results, key=lambda k: (results[k]["auc"], k == "scorecard"))
    card.meta = {"target": target, "fingerprint": fingerprint(frame), "tuning": tuning,
                 "holdout": results["scorecard"]}
    report = {**results[winner], "model": winner, "features": card.names,
              "candidates": results, "tuning": tuning, "dropped": prep.dropped,
              "n_train": len(y_tr), "n_holdout": len(y_ho),
              "holdout_source": "file" if holdout is not None else
              f"stratified {opts.test_size:.0%} split, random_state={opts.seed}",
              "fingerprint": card.meta["fingerprint"],
              "calibration": metrics.calibration_table(y_ho, pds[winner]),
              "scorecard": scorecard_table(card), "base_points": card.base}
    return TrainResult(winner, card, gbm, report)
