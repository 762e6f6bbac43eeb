"""Five levels, ten grades (五级十档): A1 (best) … E2 (worst), cut from the score by a data file.

The cut-offs and the score scale (points, odds, PDO — points to double the odds) live in
``data/grades.yaml`` so the county can change them without code; they are validated on load.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ctown.catalogue.configfile import read_yaml, validate

if TYPE_CHECKING:  # the types of pl.when(...).then(...) and of a .when(...).then(...) after it
    from polars.expr.whenthen import ChainedThen, Then

GRADES: tuple[str, ...] = ("A1", "A2", "B1", "B2", "C1", "C2", "D1", "D2", "E1", "E2")
DEFAULT_PATH = Path(__file__).parent / "data" / "grades.yaml"


class Scale(BaseModel):
    model_config = ConfigDict(extra="forbid")
    points: float = 600
    odds: float = Field(19, gt=0)
    pdo: float = Field(40, gt=0)
    min: int = 300
    max: int = 900

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.points - self.factor * math.log(self.odds)

    def score_of_pd(self, pd: float) -> float:
        """Score of a probability of default: offset + factor · ln(good:bad odds)."""
        pd = min(max(pd, 1e-9), 1 - 1e-9)
        return self.offset + self.factor * math.log((1 - pd) / pd)

    def pd_of_score(self, score: float) -> float:
        return 1.0 / (1.0 + math.exp((score - self.offset) / self.factor))


class GradeBand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grade: str
    min_score: int
    name_zh: str
    name_en: str


class GradeTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    scale: Scale = Scale()
    #: Share of the learned model in the one score (the rest is the county's rule scorecard).
    model_weight: float = Field(0.5, ge=0, le=1)
    grades: list[GradeBand]

    @model_validator(mode="after")
    def _ten_in_order(self) -> GradeTable:
        names = tuple(b.grade for b in self.grades)
        if names != GRADES:
            raise ValueError(f"grades must be exactly {', '.join(GRADES)} in this order")
        mins = [b.min_score for b in self.grades]
        if any(a <= b for a, b in itertools.pairwise(mins)):
            raise ValueError("min_score must fall strictly from A1 to E2")
        return self

    def grade_of(self, score: float) -> str:
        for band in self.grades[:-1]:
            if score >= band.min_score:
                return band.grade
        return GRADES[-1]

    def grade_expr(self, score: pl.Expr) -> pl.Expr:
        """The grade of a score column, vectorised (no row loop)."""
        expr: Then | ChainedThen = pl.when(score >= self.grades[0].min_score).then(
            pl.lit(GRADES[0]))
        for band in self.grades[1:-1]:
            expr = expr.when(score >= band.min_score).then(pl.lit(band.grade))
        return expr.otherwise(pl.lit(GRADES[-1]))

    def band(self, grade: str) -> GradeBand:
        return self.grades[GRADES.index(grade)]

    def next_better(self, grade: str) -> GradeBand | None:
        i = GRADES.index(grade)
        return self.grades[i - 1] if i > 0 else None


def load_grade_table(path: Path | None = None) -> GradeTable:
    return _cached(Path(path or DEFAULT_PATH).resolve())


@lru_cache(maxsize=4)
def _cached(path: Path) -> GradeTable:
    data, marks, _raw = read_yaml(path)
    return validate(GradeTable, data, path, marks)


def grade_rank(grade: str) -> int:
    """0 for A1 … 9 for E2 (higher is riskier)."""
    return GRADES.index(grade)
