"""Portable forms of a scorecard: JSON (reloadable) and one SQL ``CASE`` expression that runs
unchanged in SQLite and PostgreSQL and gives the same integer score as Python."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctown.scoring.model.binning import FLAG_TEXT, MISSING, SPECIAL, UNSEEN, FeatureBins
from ctown.scoring.model.scorecard import Scorecard, from_dict, to_dict


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _num(value: float) -> str:
    # repr() round-trips a double exactly; both databases parse it back to the same double.
    text = repr(float(value))
    return text if "e" not in text and "inf" not in text else f"CAST({text!r} AS REAL)"


def feature_sql(fb: FeatureBins, points: list[int], table_alias: str = "") -> str:
    k = fb.n_regular
    col = (table_alias + "." if table_alias else "") + quote_ident(fb.name)
    if fb.dtype == "numerical":
        parts = [f"WHEN {col} IS NULL THEN {points[k + MISSING]}"]
        if fb.special_codes:
            codes = ", ".join(_num(c) for c in fb.special_codes)
            parts.append(f"WHEN {col} IN ({codes}) THEN {points[k + SPECIAL]}")
        parts += [f"WHEN {col} < {_num(s)} THEN {p}"
                  for s, p in zip(fb.splits, points[:k - 1], strict=True)]
        return "CASE " + " ".join(parts) + f" ELSE {points[k - 1]} END"
    text = f"CAST({col} AS TEXT)"
    parts = [f"WHEN {col} IS NULL THEN {points[k + MISSING]}"]
    spellings = {v: k for k, v in FLAG_TEXT.items()} if fb.is_flag else {}
    for i, group in enumerate(fb.groups):
        # A yes/no feature: a BOOLEAN column is text 'true'/'false' on PostgreSQL and 1/0 on
        # SQLite; both spellings name the same bin, so both databases give the same score.
        cats = ", ".join(quote_text(c) for c in [*group, *(spellings[c] for c in group
                                                            if c in spellings)])
        parts.append(f"WHEN {text} IN ({cats}) THEN {points[i]}")
    return "CASE " + " ".join(parts) + f" ELSE {points[k + UNSEEN]} END"


def to_sql(card: Scorecard, table_alias: str = "") -> str:
    """``base + CASE … END + CASE … END …`` — an integer expression over the feature columns."""
    terms = [str(card.base)] + [f"({feature_sql(fb, card.points[fb.name], table_alias)})"
                                for fb in card.features]
    return "\n  + ".join(terms)


def write(card: Scorecard, out: Path, extra: dict[str, Any] | None = None) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    data = to_dict(card)
    if extra:
        data["meta"] = {**data["meta"], **extra}
    paths = {"json": out / "scorecard.json", "sql": out / "scorecard.sql"}
    paths["json"].write_text(json.dumps(data, ensure_ascii=False, indent=1))
    paths["sql"].write_text(
        "-- ctown scorecard: integer score of one row; missing, special and unseen values have\n"
        "-- their own points. Use as:  SELECT <expression> AS score FROM <table>\n"
        + to_sql(card) + "\n")
    return paths


def load(path: Path) -> Scorecard:
    return from_dict(json.loads(path.read_text()))
