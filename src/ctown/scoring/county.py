"""Training the county model (R-2.5) from the credit files and the loan outcomes, and the
validation figures kept with the version: holdout AUC/KS, calibration, outcomes by age band,
bad rates by grade (rank ordering), the score distribution PSI is measured against, and — on the
synthetic county — AUC against the generator's hidden risk model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.registry.models import Subject
from ctown.scoring import features, review, tasks
from ctown.scoring.grades import GradeTable
from ctown.scoring.model import metrics
from ctown.scoring.model.apply import score_frame
from ctown.scoring.model.scorecard import Scorecard, to_dict
from ctown.scoring.model.table import fingerprint
from ctown.scoring.model.train import Options, train_model
from ctown.scoring.models import ModelVersion
from ctown.scoring.ranking import SEGMENT_MIN, bad_rates_by_grade, rank_check, rank_ordered

if TYPE_CHECKING:
    from ctown.accounts.models import User

__all__ = ["SEGMENT_MIN", "bad_rates_by_grade", "rank_check", "rank_ordered", "train_county",
           "validation"]

TARGET = "defaulted"
AGE_BANDS = ((0, 30, "<30"), (30, 45, "30-44"), (45, 60, "45-59"), (60, 70, "60-69"),
             (70, 200, "70+"))


def household_frame(session: Session) -> pl.DataFrame:
    """Every household's feature row (all indicators) with its household number."""
    st = tasks.setup(session)
    frame = tasks.feature_frames(session, Subject.kind == "household", st,
                                 tasks.as_of_date(session), all_codes=True)["household"]
    numbers = tasks.read_frame(session, sa.select(Subject.id.label("subject_id"), Subject.household_no)
                          .where(Subject.kind == "household"),
                          {"subject_id": pl.Int64, "household_no": pl.Utf8})
    return frame.join(numbers, on="subject_id")


def modelling_table(households: pl.DataFrame, outcomes: pl.DataFrame) -> pl.DataFrame:
    """Household features joined to their loan outcomes by household number."""
    outcomes = outcomes.select(pl.col("household_no").cast(pl.Utf8),
                               pl.col(TARGET).cast(pl.Int8))
    return households.join(outcomes, on="household_no", how="inner")


def _split(frame: pl.DataFrame, seed: int = 42) -> tuple[pl.DataFrame, pl.DataFrame]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(frame.height)
    tr, ho = train_test_split(idx, test_size=0.3, stratify=frame[TARGET].to_numpy(),
                              random_state=seed)
    return frame[tr], frame[ho]


def by_age_band(age: np.ndarray, y: np.ndarray, pd: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for lo, hi, label in AGE_BANDS:
        m = (age >= lo) & (age < hi)
        n = int(m.sum())
        if n == 0:
            continue
        both = 0 < y[m].sum() < n
        rows.append({"band": label, "n": n, "bad_rate": round(float(y[m].mean()), 4),
                     "pd_mean": round(float(pd[m].mean()), 4),
                     "auc": round(metrics.auc(y[m], pd[m]), 4) if both else None})
    return rows


def age_segments(age: np.ndarray) -> dict[str, np.ndarray]:
    """The head's age bands as rank-ordering segments (``age <30`` …)."""
    return {f"age {label}": (age >= lo) & (age < hi) for lo, hi, label in AGE_BANDS
            if ((age >= lo) & (age < hi)).any()}


def score_distribution(scores: np.ndarray) -> dict[str, Any]:
    edges = np.unique(np.quantile(scores, np.linspace(0, 1, 11)[1:-1]))
    counts = np.bincount(np.searchsorted(edges, scores, side="right"), minlength=len(edges) + 1)
    return {"edges": edges.tolist(), "shares": (counts / counts.sum()).round(6).tolist()}


def validation(card: Scorecard, holdout: pl.DataFrame, population: pl.DataFrame,
               table: GradeTable, truth: pl.DataFrame | None) -> dict[str, Any]:
    y = holdout[TARGET].to_numpy().astype(int)
    score = score_frame(holdout, card).to_numpy()
    pd = card.pd_of(score)
    grades = [table.grade_of(s) for s in score]
    age = holdout["age"].fill_null(-1).to_numpy() if "age" in holdout.columns else \
        np.full(len(y), -1)
    out: dict[str, Any] = {
        **metrics.summary(y, -score),
        "calibration": metrics.calibration_table(y, pd),
        "by_age_band": by_age_band(age, y, pd),
        # The holdout and its age bands: segments under 10,000 are shown, not judged.
        "rank_ordering": rank_check(grades, y, {"all": np.ones(len(y), bool),
                                                **age_segments(age)}),
        "score_distribution": score_distribution(score_frame(population, card).to_numpy()),
    }
    if truth is not None:
        joined = holdout.select("household_no", TARGET).join(truth, on="household_no",
                                                             how="left")
        true_pd = joined["pd"].fill_null(joined["pd"].mean()).to_numpy()
        out["auc_true_pd"] = round(metrics.auc(y, true_pd), 4)
    return out


def train_county(session: Session, outcomes_path: Path, *, actor: User | None = None,
                 risk_path: Path | None = None) -> tuple[ModelVersion, dict[str, Any]]:
    """Train on the borrowers' outcomes, validate on a stratified holdout, register a draft."""
    st = tasks.setup(session)
    population = household_frame(session)
    frame = modelling_table(population, pl.read_csv(outcomes_path, infer_schema_length=0))
    cols = features.model_columns(frame)
    fp = fingerprint(frame.select(*cols, TARGET))
    existing = session.scalar(sa.select(ModelVersion).where(ModelVersion.fingerprint == fp))
    if existing is not None:
        return existing, existing.metrics
    train, holdout = _split(frame)
    result = train_model(train.select(*cols, TARGET), TARGET,
                         holdout=holdout.select(*cols, TARGET),
                         # Strictly monotone bins only: every factor reads the same way to a
                         # farmer (more land never lowers the score), and half the fitting time.
                         opts=Options(seed=42, repeats=1, folds=4, trends=("auto_asc_desc",)))
    truth = None
    if risk_path is not None and risk_path.exists():
        truth = pl.read_csv(risk_path, schema_overrides={"household_no": pl.Utf8})
        truth = truth.select("household_no", pl.col("pd").cast(pl.Float64))
    report = validation(result.card, holdout, population, st.table, truth)
    report.update(model="scorecard", challenger=result.report["candidates"].get("gbm"),
                  candidates=result.report["candidates"], tuning=result.report["tuning"],
                  n_train=train.height, n_holdout=holdout.height, features=result.card.names,
                  scorecard=result.report["scorecard"])
    version = review.register_version(session, actor=actor, algorithm="woe-scorecard",
                                      fingerprint=fp, metrics=report,
                                      artifact=to_dict(result.card), features=result.card.names)
    return version, report
