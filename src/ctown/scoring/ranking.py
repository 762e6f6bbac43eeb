"""The rank-ordering check (等级排序检验): grades must rank risk — in any segment of 10,000 or more
subjects, bad rates fall from E2 to A1 with no grade out of order.

A segment smaller than 10,000 is *too small to judge*: its table is shown for information, with
neither a pass nor a failure (a grade of a few dozen subjects can be out of order by chance
alone). Grades nobody in the segment has are left out of the comparison.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import polars as pl

from ctown.scoring.grades import GRADES

SEGMENT_MIN = 10_000
ORDERED, OUT_OF_ORDER, TOO_SMALL = "ordered", "out_of_order", "too_small"


def bad_rates_by_grade(grades: list[str] | np.ndarray | pl.Series, y: np.ndarray
                       ) -> list[dict[str, Any]]:
    """Subjects, bads and bad rate of every grade present, A1 first."""
    frame = pl.DataFrame({"grade": pl.Series(grades, dtype=pl.Utf8), "y": np.asarray(y)})
    agg = {g: (n, b) for g, n, b in frame.group_by("grade").agg(
        pl.len(), pl.col("y").sum()).iter_rows()}
    return [{"grade": g, "n": int(agg[g][0]), "bads": int(agg[g][1]),
             "bad_rate": round(agg[g][1] / agg[g][0], 4)} for g in GRADES if g in agg]


def inversions(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Neighbouring grades (better, worse) whose bad rates are out of order: the better grade
    has more bads than the next worse one (ties are in order)."""
    return [[a["grade"], b["grade"]] for a, b in itertools.pairwise(rows)
            if a["bads"] * b["n"] > b["bads"] * a["n"]]  # exact: no rounding of the rates


def inversion_z(rows: list[dict[str, Any]]) -> list[float]:
    """For each inversion, how many standard errors the better grade's bad rate lies above the
    worse one's (two-proportion z): below ≈2 an inversion is within sampling noise. Shown next
    to the verdict, which stays strict."""
    by = {r["grade"]: r for r in rows}
    out = []
    for a, b in inversions(rows):
        ra, rb = by[a], by[b]
        pa, pb = ra["bads"] / ra["n"], rb["bads"] / rb["n"]
        se = math.sqrt(pa * (1 - pa) / ra["n"] + pb * (1 - pb) / rb["n"])
        out.append(round((pa - pb) / se, 2) if se > 0 else math.inf)
    return out


def rank_ordered(rows: list[dict[str, Any]]) -> bool:
    """Bad rates fall (or stay) from E2 to A1 — no grade out of order."""
    return not inversions(rows)


def judge(name: str, rows: list[dict[str, Any]], minimum: int = SEGMENT_MIN) -> dict[str, Any]:
    """One segment's verdict: ``ordered``, ``out_of_order`` or ``too_small`` (< ``minimum``
    subjects: shown, not judged — ``ordered`` is then ``None``)."""
    n = sum(r["n"] for r in rows)
    out_of = inversions(rows)
    applies = n >= minimum
    status = TOO_SMALL if not applies else OUT_OF_ORDER if out_of else ORDERED
    return {"segment": name, "n": n, "applies": applies, "status": status,
            "ordered": (not out_of) if applies else None, "inversions": out_of,
            "inversion_z": inversion_z(rows), "by_grade": rows}


def rank_check(grades: list[str] | np.ndarray | pl.Series, y: np.ndarray,
               segments: dict[str, np.ndarray], minimum: int = SEGMENT_MIN
               ) -> list[dict[str, Any]]:
    """The rank-ordering check of every segment (a boolean mask over the subjects)."""
    g = pl.Series(grades, dtype=pl.Utf8)
    y = np.asarray(y)
    return [judge(name, bad_rates_by_grade(g.filter(pl.Series(mask)), y[mask]), minimum)
            for name, mask in segments.items()]


def verdict(segments: list[dict[str, Any]]) -> str:
    """All judged segments ordered → ``ordered``; any out of order → ``out_of_order``; none
    large enough → ``too_small`` (not judged)."""
    judged = [s for s in segments if _status(s) != TOO_SMALL]
    if not judged:
        return TOO_SMALL
    return ORDERED if all(_status(s) == ORDERED for s in judged) else OUT_OF_ORDER


def _status(seg: dict[str, Any]) -> str:
    """The status of a segment, also for versions registered before ``status`` was stored."""
    if "status" in seg:
        return str(seg["status"])
    if not seg.get("applies", seg.get("n", 0) >= SEGMENT_MIN):
        return TOO_SMALL
    return ORDERED if seg.get("ordered") else OUT_OF_ORDER


def with_status(segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Segments as the report shows them: every one with its ``status``."""
    return [{**s, "status": _status(s)} for s in segments]
