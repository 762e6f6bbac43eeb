"""Training: stratified holdout, binning, cross-validated scorecard, GBM challenger, the winner.

Only the training part is used to choose bins, features, regularisation and calibration (5-fold
cross-validation); the holdout is touched once, to measure both models and pick the winner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from ctown.errors import Invalid
from ctown.i18n import Message, _
from ctown.scoring.grades import Scale
from ctown.scoring.model import challenger, metrics
from ctown.scoring.model.apply import score_frame
from ctown.scoring.model.binning import FeatureBins, fit_bins, woe_matrix
from ctown.scoring.model.scorecard import Scorecard, build, calibrate, fit_logistic
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
    #: Repeats of the cross-validation; 0 = three for small tables, one for large ones.
    repeats: int = 0
    challenger: bool = True
    trends: tuple[str, ...] = TRENDS


@dataclass
class TrainResult:
    winner: str
    card: Scorecard
    gbm: dict[str, Any] | None
    report: dict[str, Any]
    #: The fitted scikit-learn challenger (not exported; for checks against the JSON trees).
    gbm_estimator: Any = None


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


def _fold_aucs(x: pl.DataFrame, y: np.ndarray, prep: Prepared, trend: str, opts: Options,
               folds: list[tuple[np.ndarray, np.ndarray]]) -> dict[tuple[float, float], Any]:
    """Per (min IV, C): the fold AUCs and out-of-fold log-odds. The bins are refitted inside
    every fold: bins fitted on all training rows would leak the target into the validation."""
    params = {"special_codes": list(opts.special_codes), "trend": trend}
    out: dict[tuple[float, float], Any] = {}
    for tr, te in folds:
        bins = fit_bins(x[tr], y[tr], prep.numeric, prep.categorical, params)
        names = [n for n in bins if bins[n].iv > 0]
        if not names:
            continue
        w_tr, w_te = woe_matrix(x[tr], bins, names), woe_matrix(x[te], bins, names)
        ivs = np.array([bins[n].iv for n in names])
        for min_iv in IV_GRID:
            keep = ivs >= min_iv
            if not keep.any():
                continue
            for c in C_GRID:
                d = fit_logistic(w_tr[:, keep], y[tr], c).decision_function(w_te[:, keep])
                entry = out.setdefault((min_iv, c), {"aucs": [], "oof": np.zeros(len(y))})
                entry["aucs"].append(metrics.auc(y[te], d) if 0 < y[te].sum() < len(te)
                                     else 0.5)
                entry["oof"][te] = d
    return {k: v for k, v in out.items() if len(v["aucs"]) == len(folds)}


def fit_best(x: pl.DataFrame, y: np.ndarray, prep: Prepared, opts: Options
             ) -> tuple[Scorecard, dict[str, FeatureBins], dict[str, Any]]:
    """Choose the trend setting, minimum IV and regularisation by cross-validated AUC (binning
    inside the folds), then fit bins and regression on the whole training part."""
    # Small tables give noisy fold AUCs: repeat the folds (three times up to 5,000 rows).
    repeats = opts.repeats if opts.repeats else (3 if len(y) <= 5000 else 1)
    folds = list(RepeatedStratifiedKFold(n_splits=opts.folds, n_repeats=repeats,
                                         random_state=opts.seed).split(np.zeros(len(y)), y))
    best: tuple[float, str, float, float, np.ndarray] | None = None
    for trend in opts.trends:
        for (min_iv, c), entry in _fold_aucs(x, y, prep, trend, opts, folds).items():
            mean = float(np.mean(entry["aucs"]))
            if best is None or mean > best[0] + 1e-4:
                best = (mean, trend, min_iv, c, entry["oof"])
    if best is None:
        raise Invalid(Message(_("没有任何特征对目标有区分力，无法训练")))
    cv_auc, trend, min_iv, c, oof = best
    bins = fit_bins(x, y, prep.numeric, prep.categorical,
                    {"special_codes": list(opts.special_codes), "trend": trend})
    names = [n for n in sorted(bins, key=lambda n: -bins[n].iv)
             if bins[n].iv > 0 and bins[n].iv >= min_iv]
    chosen = [bins[n] for n in names]
    card = build(chosen, fit_logistic(woe_matrix(x, bins, names), y, c), opts.scale)
    # Platt scaling on out-of-fold log-odds put on the points scale: honest calibration.
    calibrate(card, opts.scale.offset - opts.scale.factor * oof, y)
    return card, bins, {"C": c, "min_iv": min_iv, "cv_auc": round(cv_auc, 4), "trend": trend}


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
    gbm, clf = None, None
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
    return TrainResult(winner, card, gbm, report, clf if opts.challenger else None)
