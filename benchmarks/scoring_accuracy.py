"""Holdout AUC of ``ctown model train`` against optbinning's ``Scorecard`` with default settings,
on every public dataset in ../shared/datasets, on the same 70/30 stratified split
(random_state=42). Prints a side-by-side table; the last line is one JSON object.

    .venv/bin/python benchmarks/scoring_accuracy.py [--datasets DIR]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl
from optbinning import BinningProcess, Scorecard
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from ctown.scoring.model import metrics
from ctown.scoring.model.table import encode_target, prepare, read_table
from ctown.scoring.model.train import train_model

#: file → (target column, columns that are not features)
DATASETS = {
    "german_credit.csv": ("creditability", ()),
    "taiwan_credit_card_default.csv": ("Y", ("ID",)),
}


def optbinning_default(frame: pl.DataFrame, target: str, exclude: tuple[str, ...]
                       ) -> dict[str, float]:
    y = encode_target(frame[target])
    x = frame.drop([target, *exclude]).to_pandas()
    cats = [c for c in x.columns if x[c].dtype == object or str(x[c].dtype) in ("str", "string")]
    tr, ho = train_test_split(np.arange(len(y)), test_size=0.3, stratify=y, random_state=42)
    card = Scorecard(binning_process=BinningProcess(list(x.columns), categorical_variables=cats),
                     estimator=LogisticRegression())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        card.fit(x.iloc[tr], y[tr])
        proba = card.predict_proba(x.iloc[ho])[:, 1]
    return metrics.summary(y[ho], proba)


def ours(frame: pl.DataFrame, target: str, exclude: tuple[str, ...]) -> dict[str, object]:
    from ctown.scoring.model.train import Options

    result = train_model(frame, target, opts=Options(exclude=exclude))
    rep = result.report
    return {"auc": rep["auc"], "ks": rep["ks"], "model": rep["model"],
            "scorecard_auc": rep["candidates"]["scorecard"]["auc"],
            "gbm_auc": rep["candidates"].get("gbm", {}).get("auc"),
            "n_features": len(rep["features"])}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--datasets", type=Path, default=Path("/work/shared/datasets"))
    args = parser.parse_args()
    results = {}
    print(f"{'dataset':34} {'optbinning AUC/KS':>18} {'ctown AUC/KS':>14} {'winner':>10} "
          f"{'ctown scorecard':>16} {'Δ AUC':>7}")
    for name, (target, exclude) in DATASETS.items():
        path = args.datasets / name
        if not path.exists():
            continue
        frame = read_table(path)
        prepare(frame, target, exclude=exclude)  # fail early on a bad target
        t0 = time.perf_counter()
        base = optbinning_default(frame, target, exclude)
        t1 = time.perf_counter()
        mine = ours(frame, target, exclude)
        t2 = time.perf_counter()
        delta = round(float(mine["auc"]) - base["auc"], 4)
        print(f"{name:34} {base['auc']:>9.4f}/{base['ks']:.4f} {mine['auc']:>7.4f}/"
              f"{mine['ks']:.4f} {mine['model']:>10} {mine['scorecard_auc']:>16.4f} "
              f"{delta:>+7.4f}")
        results[name] = {"optbinning": {"auc": base["auc"], "ks": base["ks"],
                                        "seconds": round(t1 - t0, 1)},
                         "ctown": {**mine, "seconds": round(t2 - t1, 1)},
                         "auc_delta": delta, "ours_at_least_theirs": delta >= 0}
    print(json.dumps({"benchmark": "scoring_accuracy", "split": "70/30 stratified rs=42",
                      "datasets": results,
                      "all_at_least_optbinning": all(r["ours_at_least_theirs"]
                                                     for r in results.values())}))


if __name__ == "__main__":
    main()
