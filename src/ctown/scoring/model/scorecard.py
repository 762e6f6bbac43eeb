"""Weight-of-evidence logistic regression scaled to integer points (base points + PDO).

score = base + Σ points[feature][bin]; every number is an integer, so the score is reproduced
exactly by Python, Polars and SQL alike. ``calibration`` maps the score to a probability of
default: pd = 1 / (1 + exp(-(intercept + slope · score))).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ctown.scoring.grades import Scale
from ctown.scoring.model.binning import FeatureBins

FORMAT = "ctown-scorecard"


@dataclass
class Scorecard:
    features: list[FeatureBins]
    #: Points of every bin of every feature, in the order of ``FeatureBins.woe`` (k + 3 each).
    points: dict[str, list[int]]
    base: int
    scale: Scale
    calibration: dict[str, float] = field(default_factory=lambda: {"intercept": 0.0, "slope": 0.0})
    coefficients: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def pd_of(self, score: np.ndarray) -> np.ndarray:
        c = self.calibration
        return 1.0 / (1.0 + np.exp(-(c["intercept"] + c["slope"] * np.asarray(score, float))))


def fit_logistic(w: np.ndarray, y: np.ndarray, c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000).fit(w, y)


def build(bins: list[FeatureBins], lr: Any, scale: Scale) -> Scorecard:
    """Scale the regression to points: score = offset − factor · (intercept + Σ β·WoE)."""
    factor = scale.factor
    beta = lr.coef_[0]
    points = {fb.name: [round(-factor * b * w) for w in fb.woe] for fb, b in zip(bins, beta,
                                                                                  strict=True)}
    base = round(scale.offset - factor * float(lr.intercept_[0]))
    coefs = {fb.name: float(b) for fb, b in zip(bins, beta, strict=True)}
    return Scorecard(bins, points, base, scale, coefficients=coefs)


def score_bins(card: Scorecard, bin_idx: dict[str, np.ndarray]) -> np.ndarray:
    """Score from precomputed bin indexes (training and cross-validation)."""
    total = np.full(len(next(iter(bin_idx.values()))), card.base, dtype=np.int64)
    for fb in card.features:
        total += np.asarray(card.points[fb.name], dtype=np.int64)[bin_idx[fb.name]]
    return total


def calibrate(card: Scorecard, scores: np.ndarray, y: np.ndarray) -> None:
    """Platt scaling of (out-of-fold) scores to a probability of default."""
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1e6, max_iter=1000).fit(scores.reshape(-1, 1).astype(float), y)
    card.calibration = {"intercept": float(lr.intercept_[0]), "slope": float(lr.coef_[0][0])}


def to_dict(card: Scorecard) -> dict[str, Any]:
    feats = []
    for fb in card.features:
        d = fb.to_dict()
        d["points"] = card.points[fb.name]
        d["labels"] = fb.labels()
        d["coefficient"] = card.coefficients.get(fb.name)
        feats.append(d)
    return {"format": FORMAT, "format_version": 1, "kind": "scorecard", "base_points": card.base,
            "scale": card.scale.model_dump(), "calibration": card.calibration,
            "features": feats, "meta": card.meta,
            "note": "score = base_points + sum(points[bin]); bins: regular…, special, missing, "
                    "unseen; numeric bin i holds splits[i-1] <= x < splits[i]"}


def from_dict(data: dict[str, Any]) -> Scorecard:
    if data.get("format") != FORMAT:
        raise ValueError("not a ctown scorecard file")
    feats, points = [], {}
    for d in data["features"]:
        fb = FeatureBins(name=d["name"], dtype=d["dtype"], splits=list(d.get("splits", [])),
                         groups=[list(g) for g in d.get("groups", [])],
                         special_codes=list(d.get("special_codes", [])), woe=list(d["woe"]),
                         counts=list(d.get("counts", [])), bads=list(d.get("bads", [])),
                         iv=float(d.get("iv", 0.0)), trend=int(d.get("trend", 0)))
        feats.append(fb)
        points[fb.name] = [int(p) for p in d["points"]]
    return Scorecard(feats, points, int(data["base_points"]), Scale(**data["scale"]),
                     calibration=dict(data["calibration"]),
                     coefficients={d["name"]: d.get("coefficient") or 0.0
                                   for d in data["features"]},
                     meta=dict(data.get("meta", {})))


def score_range(card: Scorecard) -> tuple[int, int]:
    lo = card.base + sum(min(p) for p in card.points.values())
    hi = card.base + sum(max(p) for p in card.points.values())
    return lo, hi

