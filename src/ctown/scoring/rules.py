"""County scorecards (评分卡) as versioned data files: farmers (basic + behaviour score), business
entities (operating capability + social contribution), village collectives (governance +
civilised customs). Validated on load against the indicator catalogue; errors name the file, the
line and the field. Every factor states the points of a missing value explicitly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ctown.catalogue.configfile import ConfigFileError, line_of, read_yaml, validate
from ctown.catalogue.service import load_catalogue
from ctown.i18n import Message, _

if TYPE_CHECKING:  # the types of pl.when(...).then(...) and of a .when(...).then(...) after it
    from polars.expr.whenthen import ChainedThen, Then

DATA = Path(__file__).parent / "data" / "scorecards"
CARDS = {"household": "farmer", "entity": "entity", "collective": "collective"}
#: Where a factor's value comes from (see features.py).
Source = Literal["value", "head", "age", "history_count", "village_mean", "village_share"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """``min <= value < max`` (either end may be open)."""
    min: float | None = None
    max: float | None = None
    points: int


class Factor(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    source: Source = "value"
    indicator: str | None = None
    bands: list[Band] = []
    codes: dict[str, int] = {}
    when_true: int | None = None
    when_false: int | None = None
    #: history_count: points per matching record in the window, capped (e.g. +5 per instalment
    #: repaid on time in the last 12 months, at most +60).
    per: int | None = None
    cap: int | None = None
    floor: int | None = None
    window_months: int = 12
    match: Literal["true", "positive"] = "true"
    #: Points when the value is missing — required, so a hole never silently scores zero.
    missing: int
    #: Points for a code not listed in ``codes``.
    other: int | None = None
    advice_zh: str = ""
    advice_en: str = ""

    @model_validator(mode="after")
    def _one_rule(self) -> Factor:
        kinds = [bool(self.bands), bool(self.codes),
                 self.when_true is not None or self.when_false is not None, self.per is not None]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of bands, codes, when_true/when_false, per")
        if self.source != "age" and not self.indicator:
            raise ValueError("indicator is required for this source")
        return self

    def best(self) -> int:
        options = ([b.points for b in self.bands] + list(self.codes.values())
                   + [p for p in (self.when_true, self.when_false, self.other) if p is not None])
        if self.per is not None:
            options += [self.cap if self.cap is not None else self.per * 12, 0]
        return max([*options, self.missing])


class Part(_Strict):
    code: str
    name_zh: str
    name_en: str
    factors: list[Factor]


class RuleCard(_Strict):
    version: int
    kind: Literal["household", "entity", "collective"]
    name_zh: str
    name_en: str
    base_points: int
    parts: list[Part]

    def factors(self) -> list[Factor]:
        return [f for p in self.parts for f in p.factors]


def load_rule_card(kind: str, path: Path | None = None) -> RuleCard:
    return _cached(Path(path or DATA / f"{CARDS[kind]}.yaml").resolve())


@lru_cache(maxsize=8)
def _cached(path: Path) -> RuleCard:
    data, marks, _raw = read_yaml(path)
    card = validate(RuleCard, data, path, marks)
    _check_indicators(card, path, marks)
    return card


def _check_indicators(card: RuleCard, path: Path, marks: dict[tuple[str, ...], int]) -> None:
    catalogue = load_catalogue()
    for pi, part in enumerate(card.parts):
        for fi, f in enumerate(part.factors):
            loc = ("parts", pi, "factors", fi, "indicator")
            if f.indicator is None:
                continue
            ind = catalogue.indicators.get(f.indicator)
            if ind is None:
                raise ConfigFileError(path, line_of(marks, loc), ".".join(map(str, loc)), Message(
                    _("指标 {code} 不在采集规范中"), {"code": f.indicator}))
            if f.codes and ind.type == "code" and set(f.codes) - set(ind.codes):
                bad = ", ".join(sorted(set(f.codes) - set(ind.codes)))
                loc = ("parts", pi, "factors", fi, "codes")
                raise ConfigFileError(path, line_of(marks, loc), ".".join(map(str, loc)), Message(
                    _("指标 {code} 没有这些代码：{values}"), {"code": f.indicator, "values": bad}))


def factor_expr(f: Factor) -> pl.Expr:
    """Points of one factor from its feature column (named ``f.code``), vectorised."""
    c = pl.col(f.code)
    if f.per is not None:
        pts = c.fill_null(0) * f.per
        if f.cap is not None:
            pts = pl.min_horizontal(pts, pl.lit(f.cap))
        if f.floor is not None:
            pts = pl.max_horizontal(pts, pl.lit(f.floor))
        return pl.when(c.is_null()).then(pl.lit(f.missing)).otherwise(pts).cast(pl.Int64)
    if f.codes:
        other = f.missing if f.other is None else f.other
        known = c.cast(pl.Utf8).replace_strict(f.codes, default=other, return_dtype=pl.Int64)
        return pl.when(c.is_null()).then(pl.lit(f.missing, pl.Int64)).otherwise(known)
    if f.bands:
        x = c.cast(pl.Float64)
        expr: Then | ChainedThen = pl.when(x.is_null() | x.is_nan()).then(pl.lit(f.missing))
        for b in f.bands:
            cond = pl.lit(True)
            if b.min is not None:
                cond = cond & (x >= b.min)
            if b.max is not None:
                cond = cond & (x < b.max)
            expr = expr.when(cond).then(pl.lit(b.points))
        return expr.otherwise(pl.lit(f.missing)).cast(pl.Int64)
    truthy = c.cast(pl.Float64) > 0
    return (pl.when(c.is_null()).then(pl.lit(f.missing))
            .when(truthy).then(pl.lit(f.when_true if f.when_true is not None else 0))
            .otherwise(pl.lit(f.when_false if f.when_false is not None else 0))).cast(pl.Int64)


def rule_points(frame: pl.DataFrame, card: RuleCard) -> pl.DataFrame:
    """Points of every factor (one column per factor code) — missing columns score as missing."""
    absent = [f.code for f in card.factors() if f.code not in frame.columns]
    if absent:
        frame = frame.with_columns([pl.lit(None, pl.Float64).alias(a) for a in absent])
    return frame.select([factor_expr(f).alias(f.code) for f in card.factors()])
