"""Rescoring speed: 300,000 households' feature rows scored by ctown (rule scorecard + learned
scorecard → one score, grade, PD, and the reasons) against optbinning's ``Scorecard.score`` on
the same rows. The rows are generated here (the shape of the county's feature table, with
missing values), so the benchmark needs no loaded database.

    .venv/bin/python benchmarks/scoring.py [--rows 300000]
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np
import polars as pl

from ctown.scoring import engine
from ctown.scoring.grades import load_grade_table
from ctown.scoring.model.apply import score_frame
from ctown.scoring.model.train import Options, train_model
from ctown.scoring.rules import load_rule_card

CODES = {"head.I0101": ["10", "20", "30", "40", "50", "60", "90"],
         "I0506": ["1", "1", "1", "1", "2", "3", "4", "5"], "I1101": ["1", "2", "2", "3", "4"]}


def feature_rows(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)

    def holes(x: np.ndarray, share: float) -> list:
        return [None if m else v for v, m in zip(x.tolist(), rng.random(n) < share, strict=True)]

    cols: dict[str, object] = {"subject_id": np.arange(n)}
    cols["age"] = rng.integers(20, 86, n).astype(float)
    cols["I0201"] = holes(np.round(rng.gamma(2.0, 5.0, n), 1), 0.05)
    cols["I0205"] = holes(rng.integers(0, 2, n).astype(float), 0.1)
    cols["I0401"] = holes(np.round(rng.lognormal(11.0, 0.7, n), -2), 0.08)
    cols["I0505"] = holes(np.round(rng.lognormal(9.5, 1.2, n), -2), 0.3)
    cols["I0307"] = rng.integers(0, 2, n).astype(float)
    cols["hist.I0507.true.12"] = rng.integers(0, 13, n).astype(float)
    cols["hist.I0504.positive.12"] = rng.poisson(0.3, n).astype(float)
    cols["I0504"] = holes(np.where(rng.random(n) < 0.05, rng.integers(1, 200, n), 0) * 1.0, 0.6)
    for code in ("I0701", "I0702", "I0703"):
        cols[code] = holes((rng.random(n) < 0.02).astype(float), 0.2)
    cols["I1001"] = (rng.random(n) < 0.95).astype(float)
    cols["I1004"] = np.where(rng.random(n) < 0.05, rng.integers(1, 2000, n), 0) * 1.0
    cols["I1102"] = np.round(rng.exponential(8.0, n), 1)
    cols["I1103"] = rng.poisson(0.2, n).astype(float)
    cols["I1201"] = (rng.random(n) < 0.1).astype(float)
    cols["I1203"] = (rng.random(n) < 0.03).astype(float)
    for code, choices in CODES.items():
        cols[code] = holes(rng.choice(choices, n), 0.1)
    frame = pl.DataFrame(cols, strict=False)
    z = (-3.2 + 0.5 * frame["hist.I0504.positive.12"].to_numpy()
         - 0.08 * frame["hist.I0507.true.12"].to_numpy()
         + 1.5 * frame["I0703"].fill_null(0).to_numpy()
         - 0.3 * (np.log(frame["I0401"].fill_null(40000).to_numpy()) - 11)
         + 0.02 * np.abs(frame["age"].to_numpy() - 45) + rng.normal(0, 0.5, n))
    return frame.with_columns(bad=pl.Series((rng.random(n) < 1 / (1 + np.exp(-z))).astype(int)))


def optbinning_fit(sample: pl.DataFrame, names: list[str]):  # type: ignore[no-untyped-def]
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    x = sample.select(names).to_pandas()
    cats = [c for c in names if sample[c].dtype == pl.Utf8]
    card = Scorecard(binning_process=BinningProcess(names, categorical_variables=cats),
                     estimator=LogisticRegression(), scaling_method="min_max",
                     scaling_method_params={"min": 300, "max": 850})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card.fit(x, sample["bad"].to_numpy())
    return card


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args()
    rows = feature_rows(args.rows)
    sample = rows.sample(30_000, seed=1)
    names = [c for c in rows.columns if c not in ("subject_id", "bad")]
    model = train_model(sample.select(*names, "bad"), "bad",
                        opts=Options(challenger=False, repeats=1)).card
    rule_card, table = load_rule_card("household"), load_grade_table()
    features = rows.drop("bad")

    t0 = time.perf_counter()
    points_only = score_frame(features, model)
    t1 = time.perf_counter()
    engine.score(features, rule_card, table, model, with_reasons=False)
    t2 = time.perf_counter()
    full = engine.score(features, rule_card, table, model, with_reasons=True)
    t3 = time.perf_counter()

    opt = optbinning_fit(sample, names)
    pdx = features.select(names).to_pandas()
    t4 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = opt.score(pdx)
    t5 = time.perf_counter()

    res = {"benchmark": "scoring", "rows": rows.height, "features": len(names),
           "ours_model_points_s": round(t1 - t0, 3),
           "ours_score_grade_pd_s": round(t2 - t1, 3),
           "ours_with_reasons_s": round(t3 - t2, 3),
           "optbinning_score_s": round(t5 - t4, 3),
           "ratio_optbinning_over_ours_points": round((t5 - t4) / max(t1 - t0, 1e-9), 1),
           "ratio_optbinning_over_ours_full": round((t5 - t4) / max(t3 - t2, 1e-9), 2),
           "within_30s": (t3 - t2) <= 30.0,
           "grades": engine.grade_counts(full.frame)}
    assert points_only.len() == len(theirs) == rows.height
    print(f"rows {rows.height:,}: ctown model points {res['ours_model_points_s']} s, "
          f"score+grade+PD {res['ours_score_grade_pd_s']} s, with reasons "
          f"{res['ours_with_reasons_s']} s; optbinning Scorecard.score "
          f"{res['optbinning_score_s']} s")
    print(f"ratio optbinning/ctown: points {res['ratio_optbinning_over_ours_points']}×, "
          f"full grading with reasons {res['ratio_optbinning_over_ours_full']}×")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
