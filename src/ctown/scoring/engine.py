"""One score from the county rule scorecard and the learned model, then grade, PD and reasons.

Pure computation over frames (no database), shared by scoring runs and the benchmark:
score = round(w · model + (1 − w) · rule), clipped to the scale; the grade is cut from the
score by ``grades.yaml``; the PD follows the scale (points, odds, PDO).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from ctown.scoring import reasons as why
from ctown.scoring.features import hist_column, rule_columns
from ctown.scoring.grades import GRADES, GradeTable
from ctown.scoring.model.apply import feature_points
from ctown.scoring.model.scorecard import Scorecard
from ctown.scoring.rules import Factor, RuleCard, rule_points


@dataclass
class Scored:
    frame: pl.DataFrame  # subject_id, score, grade, pd, rule_score, model_score
    reasons: list[list[dict[str, object]]] | None


def _expected_points(card: Scorecard) -> dict[str, float]:
    """Average points of each feature over the training population (the neutral level)."""
    out = {}
    for fb in card.features:
        counts = np.asarray(fb.counts, float)
        pts = np.asarray(card.points[fb.name], float)
        out[fb.name] = float((counts * pts).sum() / max(counts.sum(), 1))
    return out


def score(features: pl.DataFrame, rule_card: RuleCard, table: GradeTable,
          model: Scorecard | None = None, with_reasons: bool = True) -> Scored:
    rules = rule_points(rule_columns(features, rule_card), rule_card)
    rule_score = rules.sum_horizontal() + rule_card.base_points
    w = table.model_weight if model is not None else 0.0
    total = rule_score.cast(pl.Float64) * (1 - w)
    model_pts = None
    if model is not None:
        model_pts = feature_points(features, model)
        model_score = model_pts.sum_horizontal() + model.base
        total = total + model_score.cast(pl.Float64) * w
    else:
        model_score = pl.Series("model_score", [None] * features.height, pl.Int64)
    sc = table.scale
    frame = pl.DataFrame({"subject_id": features["subject_id"],
                          "score": total.round().clip(sc.min, sc.max).cast(pl.Int64),
                          "rule_score": rule_score, "model_score": model_score})
    frame = frame.with_columns(
        table.grade_expr(pl.col("score")).alias("grade"),
        (1.0 / (1.0 + ((pl.col("score") - sc.offset) / sc.factor).exp())).alias("pd"))
    reasons = (_reasons(frame, rules, rule_card, model_pts, model, w, table)
               if with_reasons else None)
    return Scored(frame, reasons)


def _reasons(frame: pl.DataFrame, rules: pl.DataFrame, rule_card: RuleCard,
             model_pts: pl.DataFrame | None, model: Scorecard | None, w: float,
             table: GradeTable) -> list[list[dict[str, object]]]:
    factors = rule_card.factors()
    infos = [why.FactorInfo(f.code, f.name_zh, f.name_en, f.advice_zh, f.advice_en)
             for f in factors]
    keys = [feature_key(f) for f in factors]
    rule_m = rules.to_numpy().astype(float)
    best = np.array([f.best() for f in factors], float)
    contrib, gaps = [rule_m * (1 - w)], [(best[None, :] - rule_m) * (1 - w)]
    improvable = [np.array([bool(f.advice_zh) for f in factors])]
    if model_pts is not None and model is not None:
        expected = _expected_points(model)
        m = model_pts.to_numpy().astype(float)
        mean = np.array([expected[n] for n in model_pts.columns])
        mbest = np.array([max(model.points[n]) for n in model_pts.columns], float)
        contrib.append((m - mean[None, :]) * w)
        gaps.append((mbest[None, :] - m) * w)
        improvable.append(np.ones(len(model_pts.columns), bool))
        infos += [why.feature_info(n) for n in model_pts.columns]
        keys += list(model_pts.columns)
    # Next better grade and the points still needed, over whole columns.
    idx = frame["grade"].replace_strict({g: i for i, g in enumerate(GRADES)},
                                        return_dtype=pl.Int64).to_numpy()
    mins = np.array([b.min_score for b in table.grades])
    better = np.maximum(idx - 1, 0)
    needed = np.where(idx > 0, mins[better] - frame["score"].to_numpy(), 0)
    names = [GRADES[b] if i > 0 else None for i, b in zip(idx.tolist(), better.tolist(),
                                                          strict=True)]
    # The rule card and the model may both use an indicator: one reason per indicator.
    groups = list(dict.fromkeys(keys))
    assign = np.zeros((len(keys), len(groups)))
    assign[np.arange(len(keys)), [groups.index(k) for k in keys]] = 1.0
    can = np.concatenate(improvable)
    merged_infos = []
    for g in groups:
        members = [i for i, k in enumerate(keys) if k == g]
        merged_infos.append(next((infos[i] for i in members if infos[i].advice_zh),
                                 infos[members[0]]))
    return why.build(np.round(np.hstack(contrib) @ assign).astype(int),
                     np.hstack(gaps) @ assign, merged_infos, (can @ assign) > 0, names, needed)


def feature_key(f: Factor) -> str:
    """The feature column a rule factor reads (the learned model's name for the same data)."""
    if f.source == "value":
        return f.indicator or f.code
    if f.source == "head":
        return f"head.{f.indicator}"
    if f.source == "age":
        return "age"
    if f.source == "history_count":
        return hist_column(f)
    return f.code


def grade_counts(frame: pl.DataFrame) -> dict[str, int]:
    counts = dict(frame.group_by("grade").len().iter_rows())
    return {g: int(counts.get(g, 0)) for g in GRADES}
