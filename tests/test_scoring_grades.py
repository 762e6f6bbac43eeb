"""Grades contract: record/current, history kept, grade changes become registry events."""

from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa
from tests.test_scoring_support import households

from ctown.catalogue.configfile import ConfigFileError
from ctown.errors import Invalid
from ctown.registry.models import ChangeEvent
from ctown.scoring.grades import GRADES, load_grade_table
from ctown.scoring.models import GradeRecord
from ctown.scoring.service import current_grade, current_grades, grade_history, record_grade


def test_grade_table_is_monotone_and_vectorised_matches() -> None:
    table = load_grade_table()
    scores = list(range(250, 950, 3))
    by_row = [table.grade_of(s) for s in scores]
    ranks = [GRADES.index(g) for g in by_row]
    assert ranks == sorted(ranks, reverse=True)  # higher score never gives a worse grade
    frame = pl.DataFrame({"s": scores}).select(table.grade_expr(pl.col("s")).alias("g"))
    assert frame["g"].to_list() == by_row
    assert set(by_row) == set(GRADES)
    # The scale: PDO points double the odds.
    sc = table.scale
    assert sc.score_of_pd(1 / 3) + sc.pdo == pytest.approx(sc.score_of_pd(1 / 5))


def test_grade_table_errors_name_file_line_field(tmp_path) -> None:
    bad = tmp_path / "grades.yaml"
    bad.write_text("version: 1\ngrades:\n  - {grade: A1, min_score: x, name_zh: a, name_en: a}\n")
    with pytest.raises(ConfigFileError) as err:
        load_grade_table(bad)
    assert err.value.line == 3 and err.value.field == "grades.0.min_score"


def test_record_and_current_grade_keeps_history_and_events(session) -> None:
    sid, other = households(session, 2)
    assert current_grade(session, sid) is None
    record_grade(session, subject_id=sid, score=650, grade="B2", pd=0.03, reasons=[],
                 model_version="v1", actor=None)
    record_grade(session, subject_id=sid, score=655, grade="B2", pd=0.028, reasons=[],
                 model_version="v1", actor=None)
    rec = record_grade(session, subject_id=sid, score=700, grade="A2", pd=0.01,
                       reasons=[{"code": "x"}], model_version="v2", actor=None)
    assert current_grade(session, sid).id == rec.id
    assert [g.grade for g in grade_history(session, sid)] == ["A2", "B2", "B2"]
    n_current = session.scalar(sa.select(sa.func.count()).where(
        GradeRecord.subject_id == sid, GradeRecord.is_current.is_(True)))
    assert n_current == 1
    assert set(current_grades(session, [sid, other])) == {sid}
    events = session.scalars(sa.select(ChangeEvent).where(
        ChangeEvent.subject_id == sid, ChangeEvent.entity == "grade")
        .order_by(ChangeEvent.id)).all()
    # B2→B2 is not a change: two events (created, then B2 → A2).
    assert [(e.payload["from"], e.payload["to"]) for e in events] == [(None, "B2"), ("B2", "A2")]


def test_record_grade_refuses_unknown_grade(session) -> None:
    (sid,) = households(session, 1)
    with pytest.raises(Invalid):
        record_grade(session, subject_id=sid, score=1, grade="F", pd=0.5, reasons=[],
                     model_version="v", actor=None)


def test_rank_ordering_check_flags_a_grade_out_of_order() -> None:
    import numpy as np

    from ctown.scoring.county import SEGMENT_MIN, rank_check

    rng = np.random.default_rng(3)
    grades = list(rng.choice(GRADES, 12_000))
    risk = np.array([0.01 + 0.04 * GRADES.index(g) for g in grades])
    y = (rng.random(len(grades)) < risk).astype(int)
    (seg,) = rank_check(grades, y, {"all": np.ones(len(y), bool)})
    assert seg["applies"] and seg["n"] >= SEGMENT_MIN and seg["ordered"]
    assert seg["status"] == "ordered" and seg["inversions"] == []
    rates = [r["bad_rate"] for r in seg["by_grade"]]
    assert rates == sorted(rates)
    # Swap the outcomes of A1 and C1: A1 now has more bads than its neighbours.
    swapped = ["C1" if g == "A1" else "A1" if g == "C1" else g for g in grades]
    (bad,) = rank_check(swapped, y, {"all": np.ones(len(y), bool)})
    assert bad["ordered"] is False and bad["status"] == "out_of_order"
    assert ["A1", "A2"] in bad["inversions"] and ["B2", "A1"] not in bad["inversions"]


def test_rank_ordering_small_segments_are_not_judged() -> None:
    import numpy as np

    from ctown.scoring.ranking import judge, rank_check, verdict, with_status

    rng = np.random.default_rng(5)
    grades = np.array(rng.choice(GRADES, 30_000))
    risk = np.array([0.01 + 0.04 * GRADES.index(g) for g in grades])
    y = (rng.random(len(grades)) < risk).astype(int)
    small = np.zeros(len(y), bool)
    small[:9_999] = True
    # An out-of-order small segment: every bad moved to A1 — still neither pass nor failure.
    y_small = np.where(small, (grades == "A1").astype(int), y)
    segs = rank_check(grades, y_small, {"all": ~small, "small": small})
    assert [s["status"] for s in segs] == ["ordered", "too_small"]
    assert segs[1]["ordered"] is None and segs[1]["inversions"]  # shown, not judged
    assert verdict(segs) == "ordered" and verdict(segs[1:]) == "too_small"
    assert verdict([*segs, {**segs[0], "status": "out_of_order"}]) == "out_of_order"
    # A table exactly at the minimum is judged; ties between neighbours are in order.
    rows = [{"grade": g, "n": 1000, "bads": b, "bad_rate": b / 1000}
            for g, b in zip(GRADES, [5, 5, 9, 12, 20, 30, 30, 50, 80, 120], strict=True)]
    assert judge("t", rows)["status"] == "ordered"
    rows[3] = {**rows[3], "bads": 21, "bad_rate": 0.021}  # B2 worse than C1
    assert judge("t", rows)["inversions"] == [["B2", "C1"]]
    # Versions registered before the status was stored read the same way.
    old = [{"segment": "all", "n": 2116, "applies": False, "ordered": False, "by_grade": []}]
    assert with_status(old)[0]["status"] == "too_small" and verdict(old) == "too_small"


def test_rule_cards_load_and_errors_name_file_line_field(tmp_path) -> None:
    from ctown.scoring.rules import DATA, load_rule_card

    for kind in ("household", "entity", "collective"):
        card = load_rule_card(kind)
        assert card.kind == kind and all(f.best() >= f.missing for f in card.factors())
    text = (DATA / "farmer.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "farmer.yaml"
    bad.write_text(text.replace("indicator: I0201", "indicator: I9999"), encoding="utf-8")
    with pytest.raises(ConfigFileError) as err:
        load_rule_card("household", bad)
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "I9999" in t)
    assert err.value.line == line and err.value.field.endswith(".indicator")
    bad.write_text(text.replace("        missing: 5\n", "", 1), encoding="utf-8")
    with pytest.raises(ConfigFileError) as err:  # `missing` is required: no silent zero
        load_rule_card("household", bad)
    assert err.value.field.endswith("missing")
