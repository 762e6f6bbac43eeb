"""One score from the county rule scorecard and the learned model, then grade, PD and reasons.

Pure computation over frames (no database), shared by scoring runs and the benchmark:
score = round(w · model + (1 − w) · rule), clipped to the scale; the grade is cut from the
score by ``grades.yaml``; the PD follows the scale (points, odds, PDO).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
    #: Each subject's reasons as JSON text (what the ``grades.reasons`` column stores).
    reasons_json: pl.Series | None

    @property
    def reasons(self) -> list[list[dict[str, object]]] | None:
        if self.reasons_json is None:
            return None
        return [json.loads(text) for text in self.reasons_json.to_list()]


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
             table: GradeTable) -> pl.Series:
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
    return reasons_json(np.round(np.hstack(contrib) @ assign).astype(np.int64),
                        np.hstack(gaps) @ assign, merged_infos, (can @ assign) > 0, names, needed)


def _slot(keys: pl.DataFrame, keep: np.ndarray, text: Any) -> pl.Series:
    """One reason slot of every subject as JSON text (null where it does not apply): each
    distinct key (factor, points) is rendered once, then joined back over the whole column."""
    uniq = keys.filter(pl.Series(keep)).unique()
    rendered = uniq.with_columns(pl.Series("text", [json.dumps(text(*k), ensure_ascii=False)
                                                    for k in uniq.iter_rows()], pl.Utf8))
    # Whether a slot applies depends on its key only, so the keys left out stay null.
    return keys.join(rendered, on=keys.columns, how="left", maintain_order="left")["text"]


def reasons_json(contrib: np.ndarray, gaps: np.ndarray, infos: list[why.FactorInfo],
                 improvable: np.ndarray, next_grade: list[str | None], needed: np.ndarray,
                 top: int = 2) -> pl.Series:
    """The same reasons as :func:`reasons.build` (strongest ups, strongest downs, the best
    improvement, the next grade — in that order), built over whole columns as JSON text."""
    n = contrib.shape[0]
    rows = np.arange(n)
    order = np.argsort(contrib, axis=1, kind="stable")
    depth = min(top, contrib.shape[1])
    memo = why._Memo(infos)
    slots = []
    for kind, picks in (("up", [order[:, -1 - s] for s in range(depth)]),
                        ("down", [order[:, s] for s in range(depth)])):
        for j in picks:
            v = contrib[rows, j]
            keep = v >= why.MIN_POINTS if kind == "up" else v <= -why.MIN_POINTS
            slots.append(_slot(pl.DataFrame({"j": j, "v": v}), keep,
                               lambda j, v, kind=kind: memo[kind, j, v]))
    gains = np.where(improvable[None, :], gaps, -1)
    best_j = np.argmax(gains, axis=1)
    best_v = np.round(gains[rows, best_j]).astype(np.int64)
    slots.append(_slot(pl.DataFrame({"j": best_j, "v": best_v}), best_v > 0,
                       lambda j, v: memo["improve", j, v]))
    grades = pl.Series("g", next_grade, pl.Utf8)
    slots.append(_slot(pl.DataFrame({"g": grades, "v": needed.astype(np.int64)}),
                       grades.is_not_null().to_numpy(), why._next))
    joined = pl.DataFrame({f"s{i}": s for i, s in enumerate(slots)}).select(
        pl.concat_str([pl.col(f"s{i}") for i in range(len(slots))], separator=", ",
                      ignore_nulls=True))
    return ("[" + joined.to_series().fill_null("") + "]").rename("reasons")


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
