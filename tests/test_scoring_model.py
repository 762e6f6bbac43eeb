"""The learned model on German credit: quality, missing values, exact export (JSON, SQL on both
databases) and the GBM challenger's tree export."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from ctown.errors import Invalid
from ctown.scoring.model import challenger, export
from ctown.scoring.model.apply import feature_points, score_frame
from ctown.scoring.model.io import load_model, score_with, write_result
from ctown.scoring.model.table import encode_target, read_table
from ctown.scoring.model.train import Options, TrainResult, train_model

# Statlog German Credit (UCI, CC BY 4.0), kept in the repository so a fresh clone tests the same data.
GERMAN = Path(__file__).parent / "data" / "german_credit.csv"
TARGET = "creditability"
FLAG = "low_savings"  # a Boolean feature


@pytest.fixture(scope="module")
def german() -> pl.DataFrame:
    frame = read_table(GERMAN)
    # Holes in three columns so that missing values take part: one numeric, one categorical and
    # one yes/no (a Boolean column: "0"/"1" in training, BOOLEAN in the database).
    rng = np.random.default_rng(7)
    holes = rng.random(frame.height) < 0.08
    return frame.with_columns(
        pl.when(pl.Series(holes)).then(None).otherwise(pl.col("credit_amount"))
        .alias("credit_amount"),
        pl.when(pl.Series(np.roll(holes, 3))).then(None).otherwise(pl.col("purpose"))
        .alias("purpose"),
        pl.when(pl.Series(np.roll(holes, 7))).then(None)
        .otherwise(pl.col("savings_account_and_bonds") == "... < 100 DM")
        .alias(FLAG)).drop("savings_account_and_bonds")


@pytest.fixture(scope="module")
def trained(german: pl.DataFrame) -> TrainResult:
    return train_model(german, TARGET, opts=Options(folds=3, repeats=1))


def _feature(result: TrainResult, name: str):
    return next(f for f in result.card.features if f.name == name)


def test_german_holdout_quality_and_report(trained: TrainResult) -> None:
    rep = trained.report
    assert rep["model"] in ("scorecard", "gbm")
    assert rep["auc"] >= 0.76 and rep["ks"] > 0.35
    assert rep["gini"] == pytest.approx(2 * rep["auc"] - 1, abs=1e-3)
    assert rep["n_holdout"] == 300 and set(rep["candidates"]) == {"scorecard", "gbm"}
    assert "status_of_existing_checking_account" in rep["features"]
    # Calibration: the mean predicted PD on the holdout is close to the observed bad rate.
    cal = rep["calibration"]
    mean_pd = sum(r["pd_mean"] * r["n"] for r in cal) / sum(r["n"] for r in cal)
    assert abs(mean_pd - 0.30) < 0.06
    # Deciles of predicted PD: observed bad rates rise from first to last.
    assert cal[0]["bad_rate"] < cal[-1]["bad_rate"]


def test_missing_values_have_their_own_bin_and_weight(trained: TrainResult) -> None:
    checked = [name for name in ("credit_amount", "purpose") if name in trained.card.names]
    assert checked, "neither holed feature was selected: the test would check nothing"
    for name in checked:
        fb = _feature(trained, name)
        k = fb.n_regular
        assert fb.counts[k + 1] > 0  # the missing bin was observed in training …
        assert fb.woe[k + 1] != 0.0  # … and carries its own weight of evidence
    fb = _feature(trained, "status_of_existing_checking_account")
    k = fb.n_regular
    # Never-seen missing and unseen categories take the riskiest bin's points (stated rule).
    pts = trained.card.points[fb.name]
    assert pts[k + 1] == min(pts[:k]) and pts[k + 2] == min(pts[:k])


def _probe_rows(german: pl.DataFrame, card) -> pl.DataFrame:
    rows = german.drop(TARGET).head(200)
    odd = rows.head(3).with_columns(pl.lit("never seen before").alias("purpose"),
                                    pl.lit(None, pl.Int64).alias("duration_in_month"),
                                    pl.lit(None, pl.Utf8).alias("credit_history"))
    return pl.concat([rows, odd])


def test_json_round_trip_reproduces_every_score(tmp_path, german, trained) -> None:
    paths = write_result(trained, tmp_path)
    rows = _probe_rows(german, trained.card)
    direct = score_frame(rows, trained.card)
    reloaded = score_with(load_model(Path(paths["json"])), rows)["score"]
    assert direct.to_list() == reloaded.to_list()
    assert Path(paths["sql"]).read_text().count("CASE") >= len(trained.card.features)


def test_sql_export_equals_python_on_this_database(session, german, trained) -> None:
    card = trained.card
    rows = _probe_rows(german, card).with_row_index("rid")
    numeric = {f.name for f in card.features if f.dtype == "numerical"}
    # The yes/no feature is a BOOLEAN column: text 'true'/'false' on PostgreSQL, 1/0 on SQLite.
    assert _feature(trained, FLAG).is_flag and rows[FLAG].dtype == pl.Boolean
    assert rows[FLAG].null_count() and rows[FLAG].sum()
    cols = [sa.Column("rid", sa.Integer, primary_key=True)] + [
        sa.Column(f.name, sa.Float if f.name in numeric else
                  sa.Boolean if f.name == FLAG else sa.Text) for f in card.features]
    table = sa.Table("scoring_export_probe", sa.MetaData(), *cols)
    table.create(session.connection())
    session.execute(sa.insert(table), rows.select(["rid", *card.names]).to_dicts())
    sql = f"SELECT rid, {export.to_sql(card)} AS score FROM scoring_export_probe ORDER BY rid"
    in_db = [int(s) for _rid, s in session.execute(sa.text(sql))]
    assert in_db == score_frame(rows, card).to_list()
    assert len(set(in_db)) > 20
    # The yes/no feature's own points, one by one: yes, no and missing differ and agree.
    flag_sql = export.feature_sql(_feature(trained, FLAG), card.points[FLAG])
    by_rid = {rid: pts for rid, pts in session.execute(
        sa.text(f"SELECT rid, {flag_sql} FROM scoring_export_probe"))}
    py = feature_points(rows, card)[FLAG].to_list()
    assert [by_rid[r] for r in rows["rid"].to_list()] == py and len(set(py)) == 3


def test_gbm_tree_export_matches_sklearn(german: pl.DataFrame, trained: TrainResult) -> None:
    from ctown.scoring.model.binning import FeatureBins

    model = trained.gbm
    bins = {n: FeatureBins(**d) for n, d in model["bins"].items()}
    frame = german.drop(TARGET)
    x = challenger.design(frame, bins, model["features"])
    ours = challenger.predict_pd(model, frame)
    assert np.allclose(ours, trained.gbm_estimator.predict_proba(x)[:, 1], atol=1e-12)
    # Monotone constraints follow the WoE trends (categoricals enter as WoE: rising risk).
    assert set(challenger.constraints(bins, model["features"])) <= {-1, 0, 1}


def test_target_labels_are_mapped_explicitly() -> None:
    assert encode_target(pl.Series(["good", "bad", "Bad"])).tolist() == [0, 1, 1]
    assert encode_target(pl.Series([0, 1, 1])).tolist() == [0, 1, 1]
    with pytest.raises(Invalid):
        encode_target(pl.Series(["good", "maybe"]))
    with pytest.raises(Invalid):
        encode_target(pl.Series([0, 2]))


def test_cli_train_json_then_score_file(tmp_path) -> None:
    import json

    from typer.testing import CliRunner

    from ctown.cli import app

    runner = CliRunner()
    out = tmp_path / "model"
    res = runner.invoke(app, ["model", "train", "--data", str(GERMAN), "--target", TARGET,
                              "--json", "--out", str(out), "--no-challenger", "--folds", "3",
                              "--repeats", "1"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout.strip().splitlines()[-1])
    assert {"auc", "ks", "model", "features"} <= set(report) and report["auc"] > 0.75
    scored = runner.invoke(app, ["model", "score", "--model", str(out / "scorecard.json"),
                                 "--data", str(GERMAN)])
    assert scored.exit_code == 0, scored.output
    lines = scored.stdout.strip().splitlines()
    assert lines[0] == "score,pd" and len(lines) == 1001
    sql = runner.invoke(app, ["model", "export-sql", "--model", str(out / "scorecard.json")])
    features = json.loads((out / "scorecard.json").read_text())["features"]
    assert sql.stdout.count("CASE") == len(features) == len(report["features"])
