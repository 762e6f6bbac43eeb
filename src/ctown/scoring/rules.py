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

from ctown import configdir
from ctown.catalogue.configfile import ConfigFileError, check_file, line_of
from ctown.catalogue.schemas import Catalogue
from ctown.catalogue.service import load_catalogue
from ctown.i18n import Message, _

if TYPE_CHECKING:  # the types of pl.when(...).then(...) and of a .when(...).then(...) after it
    from polars.expr.whenthen import ChainedThen, Then

#: The packaged cards (a county's folder may replace them: :mod:`ctown.configdir`).
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
    """The rule card of a subject kind: ``path``, or by default the card in effect
    (:mod:`ctown.configdir`: ``scorecards/<farmer|entity|collective>.yaml`` of the county's
    folder, else the packaged one), cached by its stamp and the catalogue's (it is checked
    against it)."""
    if path is not None:
        chosen = Path(path).resolve()
        return _cached(configdir.stamp([chosen]), chosen)
    chosen = configdir.files("scorecards")[f"scorecards/{CARDS[kind]}.yaml"]
    return _cached(configdir.stamp([chosen]) + configdir.key("catalogue"), chosen)


@lru_cache(maxsize=8)
def _cached(_key: configdir.Stamp, path: Path) -> RuleCard:
    card, problems = check_rule_card(path, load_catalogue())
    if card is None:
        raise problems[0]
    return card


def check_rule_card(path: Path, catalogue: Catalogue | None
                    ) -> tuple[RuleCard | None, list[ConfigFileError]]:
    """The card of a file, or None and every problem found (``ctown config check``); its
    indicators are checked against ``catalogue`` unless it is None (a catalogue that failed)."""
    return check_file(path, RuleCard,
                      lambda card, marks: card_problems(card, path, marks, catalogue))


def card_problems(card: RuleCard, path: Path, marks: dict[tuple[str, ...], int],
                  catalogue: Catalogue | None) -> list[ConfigFileError]:
    """Factor codes used twice, indicators not in the catalogue, codes an indicator lacks."""
    out: list[ConfigFileError] = []

    def problem(loc: tuple[str | int, ...], message: Message) -> None:
        out.append(ConfigFileError(path, line_of(marks, loc), ".".join(map(str, loc)), message))

    seen: set[str] = set()
    for pi, part in enumerate(card.parts):
        for fi, f in enumerate(part.factors):
            loc: tuple[str | int, ...] = ("parts", pi, "factors", fi)
            if f.code in seen:
                problem((*loc, "code"), Message(_("因子代码 {code} 重复"), {"code": f.code}))
            seen.add(f.code)
            if f.indicator is None or catalogue is None:
                continue
            ind = catalogue.indicators.get(f.indicator)
            if ind is None:
                problem((*loc, "indicator"), Message(_("指标 {code} 不在采集规范中"),
                                                     {"code": f.indicator}))
            elif f.codes and ind.type == "code" and set(f.codes) - set(ind.codes):
                bad = ", ".join(sorted(set(f.codes) - set(ind.codes)))
                problem((*loc, "codes"), Message(_("指标 {code} 没有这些代码：{values}"),
                                                 {"code": f.indicator, "values": bad}))
    return out


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
