"""What a scoring run needs to know before it reads anything: the grade table, the county rule
cards, the live learned model, and from them which indicators and history windows to read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from ctown.scoring import review
from ctown.scoring.grades import GradeTable, load_grade_table
from ctown.scoring.model.scorecard import Scorecard, from_dict
from ctown.scoring.rules import RuleCard, load_rule_card

#: Without a live learned model a grade is computed by the three rule cards and the grade table:
#: its version names all four (household, entity, collective card; grade table), so a grade
#: computed before and after any of them changed says which it was (R-1.3, #11 item 5).
RULE_ONLY = "rules-h{household}.e{entity}.c{collective}.g{grades}"


@dataclass
class Setup:
    table: GradeTable
    cards: dict[str, RuleCard]
    model: Scorecard | None
    version: str
    baseline: dict[str, Any] | None


def setup(session: Session) -> Setup:
    table = load_grade_table()
    cards = {k: load_rule_card(k) for k in ("household", "entity", "collective")}
    live = review.live_version(session)
    if live is None:
        version = RULE_ONLY.format(**{k: c.version for k, c in cards.items()},
                                   grades=table.version)
        return Setup(table, cards, None, version, None)
    return Setup(table, cards, from_dict(live.artifact), live.version,
                 live.metrics.get("score_distribution"))


def hist_specs(cards: dict[str, RuleCard], model: Scorecard | None) -> list[tuple[str, str, int]]:
    specs: list[tuple[str, str, int]] = [
        (f.indicator, f.match, f.window_months) for c in cards.values()
        for f in c.factors() if f.source == "history_count" and f.indicator]
    for name in model.names if model else []:
        if name.startswith("hist."):
            _h, code, match, months = name.split(".")
            specs.append((code, match, int(months)))
    return sorted(set(specs))


def needed_codes(st: Setup) -> list[str]:
    """Indicators the rule cards and the model read: only those are fetched from the file."""
    codes = {f.indicator for c in st.cards.values() for f in c.factors() if f.indicator}
    for name in st.model.names if st.model else []:
        parts = name.split(".")
        codes.add(parts[1] if parts[0] in ("head", "hist") else parts[0])
    return sorted(c for c in codes if c.startswith("I"))


def head_codes(st: Setup) -> list[str]:
    """Indicators read from the household head (rule factors ``source: head``, ``head.*``)."""
    codes = {f.indicator for c in st.cards.values() for f in c.factors()
             if f.source == "head" and f.indicator}
    codes |= {n.split(".")[1] for n in (st.model.names if st.model else [])
              if n.startswith("head.")}
    return sorted(codes)


def village_columns(st: Setup) -> list[str]:
    """Indicators the collective card averages over a village's households."""
    return sorted({f.indicator for f in st.cards["collective"].factors() if f.indicator})
