"""Scoring runs over the credit file: whole county, incremental, history and change events."""

from __future__ import annotations

import sqlalchemy as sa
from tests.test_scoring_support import VILLAGE, credit_file, households, monthly, person

from ctown.registry.models import ChangeEvent, Subject
from ctown.scoring import tasks
from ctown.scoring.grades import GRADES
from ctown.scoring.models import GradeRecord
from ctown.scoring.service import current_grade, current_grades


def _county(session):
    good, bad, plain = households(session, 3, prefix="R")
    session.add(Subject(kind="collective", name="测试村村集体", region_code=VILLAGE))
    for hh, year in ((good, 1980), (bad, 1985), (plain, 1970)):
        person(session, hh, year)
    credit_file(session, good, {"I0401": 150000, "I0205": True, "I0201": 12, "I1101": "1",
                                "I1102": 20, "I0506": "1", "I0504": 0})
    monthly(session, good, "I0507", [1.0] * 12)
    credit_file(session, bad, {"I0401": 30000, "I0703": True, "I0506": "4", "I0504": 120,
                               "I1101": "4"})
    monthly(session, bad, "I0504", [0, 0, 0, 30, 60, 90, 120, 120, 120, 120, 120, 120])
    return good, bad, plain


def test_whole_county_run_grades_every_subject_with_reasons(session) -> None:
    good, bad, plain = _county(session)
    summary = tasks.score_all(session)
    assert summary["scored"] == 4  # three households and the village collective
    grades = current_grades(session, [good, bad, plain])
    assert set(grades) == {good, bad, plain}
    assert grades[good].score > grades[plain].score > grades[bad].score
    assert GRADES.index(grades[good].grade) < GRADES.index(grades[bad].grade)
    # +5 per on-time instalment, capped at 60: 12 instalments give the full 60.
    up = [r for r in grades[good].reasons if r["direction"] == "up"]
    assert any(r["code"] == "repaid_on_time" and r["points"] == 60 for r in up)
    down = [r for r in grades[bad].reasons if r["direction"] == "down"]
    assert down and all(r["zh"] and r["en"] for r in down)
    assert {r["code"] for r in down} & {"dishonest", "loan_class", "overdue_months"}
    assert any(r["direction"] == "improve" for r in grades[plain].reasons)
    collective = session.scalar(sa.select(GradeRecord).join(
        Subject, Subject.id == GradeRecord.subject_id).where(Subject.kind == "collective"))
    assert collective is not None and collective.grade in GRADES


def test_second_run_changes_nothing_then_incremental_rescoring(session) -> None:
    good, _bad, plain = _county(session)
    tasks.score_all(session)
    again = tasks.score_all(session)
    assert again["changed"] == 0
    before = current_grade(session, good)
    # New data for one household arrives in batch 7: it lands on the dishonest-debtor list.
    credit_file(session, good, {"I0703": True, "I0506": "5"}, batch_id=7)
    inc = tasks.rescore_changed(session, since_batch_id=6)
    assert inc["scored"] == 2  # the household and its village
    after = current_grade(session, good)
    assert after.score < before.score and after.id != before.id
    history = session.scalars(sa.select(GradeRecord).where(GradeRecord.subject_id == good)).all()
    assert len(history) == 3 and sum(g.is_current for g in history) == 1
    events = session.scalars(sa.select(ChangeEvent).where(
        ChangeEvent.subject_id == good, ChangeEvent.entity == "grade")).all()
    assert events[-1].payload["to"] == after.grade
    assert current_grade(session, plain).run_id != after.run_id  # untouched by the increment


def test_cli_score_all_json(db_factory, tmp_path, monkeypatch) -> None:
    import json

    from typer.testing import CliRunner

    from ctown.cli import app
    from ctown.db import make_engine, session_factory

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        for hh in households(s, 2, prefix="C"):
            person(s, hh, 1975)
    engine.dispose()
    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(tmp_path))
    res = CliRunner().invoke(app, ["score", "--all", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert summary["scored"] == 2 and summary["seconds"] >= 0 and summary["changed"] == 2


def test_reading_ahead_on_a_second_connection_gives_the_same_grades(db_factory) -> None:
    from ctown.db import make_engine, session_factory
    from ctown.scoring.reading import side_reader
    from ctown.scoring.run_setup import setup

    engine = make_engine(db_factory.migrated_url())
    factory = session_factory(engine)
    with factory.begin() as s:
        ids = list(_county(s))
        for hh in households(s, 3, prefix="P"):
            person(s, hh, 1990)
            credit_file(s, hh, {"I0401": 60000, "I0506": "2"})
            ids.append(hh)
    pg = engine.dialect.name == "postgresql"
    with factory() as s:
        # A transaction that has written nothing can hand its snapshot to a second connection …
        with side_reader(s) as side:
            assert (side is not None) == pg
        setup(s)
        s.add(Subject(kind="household", name="未提交", region_code=VILLAGE))
        s.flush()
        with side_reader(s) as side:  # … one that has written cannot: it reads on its own
            assert side is None
        s.rollback()
    with factory.begin() as s:  # one household per chunk: every chunk is read ahead (PG)
        ahead = tasks.score_all(s, chunk=1)
    with factory.begin() as s:
        first = {i: (g.score, g.grade, g.reasons) for i, g in current_grades(s, ids).items()}
        s.add(Subject(kind="household", name="新户", region_code=VILLAGE, household_no="P9"))
        s.flush()  # this run's transaction has written: it reads on its own connection
        again = tasks.score_all(s, chunk=2)
        second = {i: (g.score, g.grade, g.reasons) for i, g in current_grades(s, ids).items()}
    assert ahead["scored"] == 7 and again["scored"] == 8  # 6 households + village (+ new one)
    assert first == second and len(set(first)) == 6
    engine.dispose()


def test_a_county_without_households_still_scores_its_villages(session) -> None:
    from tests.test_scoring_support import region

    session.add(Subject(kind="collective", name="空村村集体", region_code=region(session)))
    summary = tasks.score_all(session)
    assert summary["scored"] == 1 and summary["changed"] == 1


def test_a_grade_names_the_cards_and_the_grade_table_it_was_computed_under(
        session, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """#11 item 5: values keep the version they were computed under. Without a learned model a
    grade names the three rule cards and the grade table; a new grade table shows on the next
    run's grades, the earlier grades keep theirs."""
    import yaml

    from ctown import configdir

    def versions() -> dict[str, int]:  # read from the files, not through the code under test
        files = configdir.defaults()
        return {k: yaml.safe_load(files[n].read_text(encoding="utf-8"))["version"]
                for k, n in (("h", "scorecards/farmer.yaml"), ("e", "scorecards/entity.yaml"),
                             ("c", "scorecards/collective.yaml"), ("g", "grades.yaml"))}

    monkeypatch.delenv("CTOWN_CONFIG_DIR", raising=False)
    good, _bad, _plain = _county(session)
    tasks.score_all(session)
    v = versions()
    before = f"rules-h{v['h']}.e{v['e']}.c{v['c']}.g{v['g']}"
    assert current_grades(session, [good])[good].model_version == before
    folder = tmp_path / "config"
    folder.mkdir()
    grades = configdir.defaults()["grades.yaml"].read_text(encoding="utf-8")
    (folder / "grades.yaml").write_text(
        grades.replace(f"version: {v['g']}\n", f"version: {v['g'] + 1}\n", 1), encoding="utf-8")
    configdir.configure(folder)
    try:
        tasks.score_all(session)
        after = f"rules-h{v['h']}.e{v['e']}.c{v['c']}.g{v['g'] + 1}"
        history = session.scalars(sa.select(GradeRecord.model_version).where(
            GradeRecord.subject_id == good).order_by(GradeRecord.id)).all()
    finally:
        configdir.reset()
    assert history[0] == before and history[-1] == after, history
