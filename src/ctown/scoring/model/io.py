"""Writing a training result to a folder and loading any exported model for scoring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ctown.scoring.model import challenger, export
from ctown.scoring.model.apply import score_frame
from ctown.scoring.model.scorecard import FORMAT as CARD_FORMAT
from ctown.scoring.model.scorecard import from_dict
from ctown.scoring.model.train import TrainResult


def write_result(result: TrainResult, out: Path) -> dict[str, str]:
    paths = {k: str(v) for k, v in export.write(result.card, out).items()}
    if result.gbm is not None:
        (out / "gbm.json").write_text(json.dumps(result.gbm))
        paths["gbm"] = str(out / "gbm.json")
    winner = out / ("gbm.json" if result.winner == "gbm" else "scorecard.json")
    (out / "model.json").write_text(winner.read_text())
    (out / "report.json").write_text(json.dumps(result.report, ensure_ascii=False, indent=1))
    paths.update(model=str(out / "model.json"), report=str(out / "report.json"))
    return paths


def load_model(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    if data.get("format") not in (CARD_FORMAT, challenger.FORMAT):
        raise ValueError(f"{path}: not a ctown model file")
    return data


def score_with(model: dict[str, Any], frame: pl.DataFrame) -> pl.DataFrame:
    """score (scorecards only) and pd of every row of ``frame``."""
    if model["format"] == CARD_FORMAT:
        card = from_dict(model)
        score = score_frame(frame, card)
        return pl.DataFrame({"score": score, "pd": card.pd_of(score.to_numpy())})
    pd = challenger.predict_pd(model, frame)
    return pl.DataFrame({"pd": pd, "risk_rank": np.argsort(np.argsort(-pd)) + 1})
