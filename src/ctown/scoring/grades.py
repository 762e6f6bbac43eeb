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
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ctown import configdir
from ctown.catalogue.configfile import ConfigFileError, read_yaml, validate_all

if TYPE_CHECKING:  # the types of pl.when(...).then(...) and of a .when(...).then(...) after it
    from polars.expr.whenthen import ChainedThen, Then

GRADES: tuple[str, ...] = ("A1", "A2", "B1", "B2", "C1", "C2", "D1", "D2", "E1", "E2")
#: The packaged table (a county's folder may replace it: :mod:`ctown.configdir`).
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

    @field_validator("grades")
    @classmethod
    def _ten_in_order(cls, grades: list[GradeBand]) -> list[GradeBand]:
        names = tuple(b.grade for b in grades)
        if names != GRADES:
            raise ValueError(f"grades must be exactly {', '.join(GRADES)} in this order")
        mins = [b.min_score for b in grades]
        if any(a <= b for a, b in itertools.pairwise(mins)):
            raise ValueError("min_score must fall strictly from A1 to E2")
        return grades

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
    """The grade table of ``path``, or by default the one in effect (:mod:`ctown.configdir`),
    cached by its stamp."""
    chosen = Path(path).resolve() if path else configdir.file("grades")
    return _cached(configdir.stamp([chosen]), chosen)


@lru_cache(maxsize=4)
def _cached(_key: configdir.Stamp, path: Path) -> GradeTable:
    table, problems = check_grade_table(path)
    if table is None:
        raise problems[0]
    return table


def check_grade_table(path: Path) -> tuple[GradeTable | None, list[ConfigFileError]]:
    """The table of a file, or None and every problem Pydantic found (``ctown config check``)."""
    try:
        data, marks, _raw = read_yaml(path)
    except ConfigFileError as exc:
        return None, [exc]
    return validate_all(GradeTable, data, path, marks)


def grade_rank(grade: str) -> int:
    """0 for A1 … 9 for E2 (higher is riskier)."""
    return GRADES.index(grade)
