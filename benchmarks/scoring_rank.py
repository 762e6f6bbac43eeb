"""Rank ordering at scale (issue 4): do the grades rank risk in every segment of ≥ 10,000?

A synthetic county from ``ctown.synth`` (default 300,000 households) whose hidden true PD is known
(``synth/risk.py``). Its department feeds are parsed by the ingest validators (the same parsers
and mappings as ``ctown ingest``, without the database), resolved to households and their heads,
and turned into the credit file's current values and 12-month history → feature rows, exactly
the columns a scoring run reads. A county model is trained on a sample of the borrowers' real
outcomes (as ``ctown model county`` does), every household is graded (rule card + model, the one
score), then outcomes are drawn for **every** household from its hidden PD (seeded), and the
bad rates per grade are checked in every segment: whole county, borrowers / non-borrowers, the
head's age bands, towns (镇) / townships (乡), farm types, head's education; each township alone
(about 2,000 households: too small to judge, counted only).

Baseline in the same process: the AUC of the generator's true PD on the same drawn outcomes
(the ceiling no model can beat) against the AUC of our score.

    .venv/bin/python benchmarks/scoring_rank.py [--households 300000] [--seed 7] [--train 30000]
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from typing import Any

import numpy as np
import polars as pl

from ctown.catalogue.service import load_catalogue
from ctown.ingest.mapping import load_mappings
from ctown.ingest.readers import ROW
from ctown.ingest.validate import ID, OBSERVED, SEQ, Context, validate
from ctown.scoring import engine, features
from ctown.scoring.county import AGE_BANDS
from ctown.scoring.grades import GRADES, load_grade_table
from ctown.scoring.model import metrics
from ctown.scoring.model.train import Options, train_model
from ctown.scoring.ranking import ORDERED, SEGMENT_MIN, TOO_SMALL, rank_check, verdict
from ctown.scoring.rules import load_rule_card
from ctown.scoring.run_setup import hist_specs
from ctown.synth.generator import DEFAULT_SNAPSHOT, DEPARTMENTS, build_world
from ctown.synth.risk import HISTORY_MONTHS

HEAD = features.HEAD


def department_values(world: Any) -> pl.DataFrame:
    """Every department's rows, parsed and checked by the ingest validators, as long values:
    resident_id, indicator_code, value_num, value_text, observed_on, kind (of the subject)."""
    cat = load_catalogue()
    villages = {c for c, *_rest in world.county.villages}
    mappings = load_mappings()
    numeric_types = features.NUMERIC_TYPES
    parts = []
    for code, (builder, _style) in DEPARTMENTS.items():
        mapping = mappings[code]
        if mapping.subject_kind == "entity":  # entities have no hidden PD: not in this check
            continue
        frame = builder(world).with_row_index(ROW).with_columns(
            pl.col(ROW).cast(pl.Int64), pl.col(ROW).cast(pl.Int64).alias(SEQ))
        ok = validate(Context(mapping, cat, villages), frame).ok
        codes = [c for c in ok.columns if c in cat.indicators]
        nums = [c for c in codes if cat.indicators[c].type in numeric_types]
        texts = [c for c in codes if c not in nums]
        base = [pl.col(ID).alias("resident_id"), pl.col(OBSERVED).alias("observed_on"),
                pl.lit(mapping.subject_kind).alias("kind")]
        index = ["resident_id", "observed_on", "kind"]
        if nums:
            parts.append(ok.select(*base, *[pl.col(c).cast(pl.Float64) for c in nums])
                         .unpivot(nums, index=index,
                                  variable_name="indicator_code", value_name="value_num")
                         .with_columns(pl.lit(None, pl.Utf8).alias("value_text")))
        if texts:
            parts.append(ok.select(*base, *[pl.col(c).cast(pl.Utf8) for c in texts])
                         .unpivot(texts, index=index,
                                  variable_name="indicator_code", value_name="value_text")
                         .with_columns(pl.lit(None, pl.Float64).alias("value_num")))
    cols = ["resident_id", "indicator_code", "value_num", "value_text", "observed_on", "kind"]
    return pl.concat([p.select(cols) for p in parts]).filter(
        pl.col("value_num").is_not_null() | pl.col("value_text").is_not_null())


def feature_rows(world: Any, cards: dict[str, Any]) -> tuple[pl.DataFrame, dict[str, float]]:
    """One feature row per household, as a scoring run builds it from the credit file."""
    t = time.perf_counter()
    long = department_values(world)
    t_parse = time.perf_counter() - t
    hh = world.households.with_row_index("hh_index")
    n = hh.height
    # Subject ids: households 1…n, their heads n+1…2n.
    ids = hh.select("household_no", (pl.col("hh_index").cast(pl.Int64) + 1).alias("hh_id"))
    people = world.people.select("resident_id", "household_no", "relation").join(
        ids, on="household_no")
    long = long.join(people, on="resident_id", how="inner").with_columns(
        pl.when(pl.col("kind") == "person")
        .then(pl.when(pl.col("relation") == HEAD).then(pl.col("hh_id") + n))
        .otherwise(pl.col("hh_id")).alias("subject_id")).drop_nulls("subject_id")
    current = (long.sort("observed_on").group_by("subject_id", "indicator_code")
               .agg(pl.col("value_num").last(), pl.col("value_text").last()))
    numeric, coded = features.value_columns(None)
    wide = current.pivot(on="indicator_code", index="subject_id", values="value_num",
                         aggregate_function="first").select(
        "subject_id", *[c for c in numeric if c in current["indicator_code"].unique()])
    text = current.filter(pl.col("indicator_code").is_in(coded)).pivot(
        on="indicator_code", index="subject_id", values="value_text", aggregate_function="first")
    wide = wide.join(text.select("subject_id", *[c for c in text.columns if c in coded]),
                     on="subject_id", how="left")
    specs = [*hist_specs(cards, None), ("I0507", "true", HISTORY_MONTHS),
             ("I0504", "positive", HISTORY_MONTHS)]
    history = long.filter(pl.col("kind") == "household").select(
        "subject_id", "indicator_code", "value_num", "observed_on")
    counts = features.history_counts(history, sorted(set(specs)), world.snapshot)
    subjects = pl.concat([
        hh.select((pl.col("hh_index").cast(pl.Int64) + 1).alias("id"),
                  pl.lit("household").alias("kind"), pl.col("village_code").alias("region_code"),
                  pl.lit(None, pl.Int64).alias("household_id"), pl.lit(None, pl.Utf8)
                  .alias("relation"), pl.lit(None, pl.Date).alias("birth_date")),
        hh.select((pl.col("hh_index").cast(pl.Int64) + 1 + n).alias("id"),
                  pl.lit("person").alias("kind"), pl.col("village_code").alias("region_code"),
                  (pl.col("hh_index").cast(pl.Int64) + 1).alias("household_id"),
                  pl.lit(HEAD).alias("relation"),
                  pl.col("head_birth").cast(pl.Date).alias("birth_date"))])
    rows = features.household_rows(subjects, wide, counts, world.snapshot).sort("subject_id")
    return rows, {"parse_s": round(t_parse, 1), "build_s": round(time.perf_counter() - t, 1)}


def segments(world: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Segments to judge (named masks), and the townships one by one."""
    h = world.households
    age = h["head_age"].to_numpy()
    out: dict[str, np.ndarray] = {"whole county": np.ones(h.height, bool)}
    borrower = h["borrower"].to_numpy()
    out["borrowers"], out["non-borrowers"] = borrower, ~borrower
    for lo, hi, label in AGE_BANDS:
        out[f"head age {label}"] = (age >= lo) & (age < hi)
    town = h["township_code"].str.slice(6, 1).to_numpy()
    out["towns (镇)"], out["townships (乡)"] = town == "1", town == "2"
    for farm in sorted(h["farm_type"].unique().to_list()):
        out[f"farm type {farm}"] = (h["farm_type"] == farm).to_numpy()
    edu = h["head_edu_level"].to_numpy()
    for level in sorted(set(edu.tolist())):
        out[f"head education level {level}"] = edu == level
    townships = {f"township {c}": (h["township_code"] == c).to_numpy()
                 for c in sorted(h["township_code"].unique().to_list())}
    return out, townships


def train(rows: pl.DataFrame, world: Any, size: int, seed: int) -> Any:
    """The county model on a sample of borrowers' real outcomes (as ``ctown model county``)."""
    h = world.households
    frame = rows.with_columns(pl.Series("defaulted", h["defaulted"].cast(pl.Int8)))
    borrowers = frame.filter(pl.Series(h["borrower"].to_numpy()))
    sample = borrowers.sample(min(size, borrowers.height), seed=seed)
    cols = features.model_columns(sample)
    return train_model(sample.select(*cols, "defaulted"), "defaulted",
                       opts=Options(seed=42, repeats=1, folds=4, challenger=False,
                                    trends=("auto_asc_desc",)))


def expected_out_of_order(grades: pl.Series, true_pd: np.ndarray,
                          segments: dict[str, np.ndarray]) -> list[str]:
    """Judged segments whose mean hidden PD by grade is out of order: a real ranking defect
    (as opposed to an observed inversion that sampling noise can explain)."""
    out = []
    for name, mask in segments.items():
        if mask.sum() < SEGMENT_MIN:
            continue
        means = dict(pl.DataFrame({"g": grades.filter(pl.Series(mask)), "p": true_pd[mask]})
                     .group_by("g").agg(pl.col("p").mean()).iter_rows())
        rates = [means[g] for g in GRADES if g in means]
        if any(a > b for a, b in itertools.pairwise(rates)):
            out.append(name)
    return out


def oracle_grades(true_pd: np.ndarray, like: pl.Series) -> pl.Series:
    """Grades cut from the hidden true PD itself, with the same number of subjects in each
    grade as ``like``: the best any rating could do on this county."""
    sizes = [int((like == g).sum()) for g in GRADES]
    order = np.argsort(true_pd, kind="stable")  # lowest PD first → A1
    out = np.empty(len(true_pd), dtype=object)
    start = 0
    for g, size in zip(GRADES, sizes, strict=True):
        out[order[start:start + size]] = g
        start += size
    return pl.Series("grade", out.astype(str))


def repeated_draws(grades: pl.Series, true_pd: np.ndarray, segments: dict[str, np.ndarray],
                   seed: int, draws: int) -> tuple[int, float]:
    """Outcome draws (seeded) in which every judged segment is ordered, and the mean number of
    segments out of order per draw."""
    passed, out_of_order = 0, 0
    for d in range(draws):
        y = (np.random.default_rng([seed, 900, d]).random(len(true_pd)) < true_pd).astype(int)
        report = rank_check(grades, y, segments)
        passed += verdict(report) == ORDERED
        out_of_order += sum(s["status"] == "out_of_order" for s in report)
    return passed, out_of_order / max(draws, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=300_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--train", type=int, default=30_000, help="borrowers to train on")
    ap.add_argument("--draws", type=int, default=20, help="outcome draws for the pass rates")
    args = ap.parse_args()
    t0 = time.perf_counter()
    world = build_world(args.households, args.seed, DEFAULT_SNAPSHOT)
    cards = {k: load_rule_card(k) for k in ("household", "entity", "collective")}
    rows, timing = feature_rows(world, cards)
    t = time.perf_counter()
    result = train(rows, world, args.train, args.seed)
    timing["train_s"] = round(time.perf_counter() - t, 1)
    table = load_grade_table()
    scored = engine.score(rows, cards["household"], table, result.card, with_reasons=False).frame
    true_pd = world.households["pd"].to_numpy()
    y = (np.random.default_rng([args.seed, 900]).random(len(true_pd)) < true_pd).astype(int)
    judged, townships = segments(world)
    report = rank_check(scored["grade"], y, judged)
    small = rank_check(scored["grade"], y, townships)
    auc_score = metrics.auc(y, -scored["score"].to_numpy())
    auc_true = metrics.auc(y, true_pd)
    print(f"{args.households:,} households (seed {args.seed}); outcomes drawn from the hidden "
          f"PD: {int(y.sum()):,} bads ({y.mean():.2%}). Model trained on "
          f"{min(args.train, int(world.households['borrower'].sum())):,} borrowers "
          f"(holdout AUC {result.report['auc']:.3f}).")
    print(f"AUC of the one score on the drawn outcomes {auc_score:.4f}; of the true PD "
          f"{auc_true:.4f} (ceiling) → {auc_score / auc_true:.3f} of the ceiling")
    print(f"{'segment':28s} {'n':>8s}  status        " + " ".join(f"{g:>6s}" for g in GRADES))
    for seg in report:
        rates = {r["grade"]: r["bad_rate"] for r in seg["by_grade"]}
        print(f"{seg['segment']:28s} {seg['n']:>8,d}  {seg['status']:12s}  "
              + " ".join(f"{rates[g]:6.2%}" if g in rates else f"{'-':>6s}" for g in GRADES)
              + "".join(f"  {a}>{b} (z {z})" for (a, b), z in zip(seg["inversions"],
                                                                  seg["inversion_z"], strict=True)))
    # Expected bad rates (mean hidden PD per grade): is the ordering itself right everywhere?
    wrong = expected_out_of_order(scored["grade"], true_pd, judged)
    print(f"expected bad rates (mean hidden PD by grade): out of order in {len(wrong)} of "
          f"{sum(m.sum() >= SEGMENT_MIN for m in judged.values())} judged segments {wrong or ''}")
    counts = {g: int(c) for g, c in scored.group_by("grade").len().iter_rows()}
    print(f"{'grade sizes':28s} {'':>8s}  {'':12s}  "
          + " ".join(f"{counts.get(g, 0):>6,d}" for g in GRADES))
    small_out = sum(1 for s in small if s["inversions"])
    print(f"{len(small)} townships alone: {sum(s['status'] == TOO_SMALL for s in small)} too "
          f"small to judge (n {min(s['n'] for s in small):,}–{max(s['n'] for s in small):,}); "
          f"{small_out} of them show an inversion by chance, which is why they are not judged")
    oracle = oracle_grades(true_pd, scored["grade"])
    oracle_report = rank_check(oracle, y, judged)
    ours_pass, ours_bad = repeated_draws(scored["grade"], true_pd, judged, args.seed, args.draws)
    oracle_pass, oracle_bad = repeated_draws(oracle, true_pd, judged, args.seed, args.draws)
    print(f"baseline — grades cut from the hidden true PD (same grade sizes), same outcomes: "
          f"{sum(s['status'] == ORDERED for s in oracle_report)} of "
          f"{sum(s['status'] != TOO_SMALL for s in oracle_report)} judged segments ordered")
    print(f"over {args.draws} outcome draws: every judged segment ordered in {ours_pass} "
          f"(ours) vs {oracle_pass} (true-PD grades); segments out of order per draw "
          f"{ours_bad:.1f} vs {oracle_bad:.1f}")
    every = verdict(report)
    judged_n = sum(s["status"] != TOO_SMALL for s in report)
    print(f"verdict: {every} — {sum(s['status'] == ORDERED for s in report)} of {judged_n} "
          f"judged segments rank-ordered ({time.perf_counter() - t0:.0f} s)")
    print(json.dumps({
        "households": args.households, "seed": args.seed, "bads": int(y.sum()),
        "auc_score": round(auc_score, 4), "auc_true_pd": round(auc_true, 4),
        "holdout_auc": result.report["auc"], "verdict": every,
        "segments_judged": judged_n,
        "segments_ordered": sum(s["status"] == ORDERED for s in report),
        "out_of_order": [s["segment"] for s in report if s["status"] == "out_of_order"],
        "expected_out_of_order": wrong,
        "oracle_segments_ordered": sum(s["status"] == ORDERED for s in oracle_report),
        "draws": args.draws, "draws_all_ordered": ours_pass,
        "draws_all_ordered_true_pd": oracle_pass,
        "out_of_order_per_draw": round(ours_bad, 2),
        "out_of_order_per_draw_true_pd": round(oracle_bad, 2),
        "max_inversion_z_judged": max((z for s in report if s["status"] != TOO_SMALL
                                       for z in s["inversion_z"]), default=0.0),
        "grade_sizes": counts, "townships_too_small": len(small),
        "townships_with_chance_inversions": small_out, **timing,
        "seconds": round(time.perf_counter() - t0, 1)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
