"""三率 on both databases: completeness, timeliness and stability per department, township and
village, against hand-counted expectations; a fixed number of queries whatever the size."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session
from tests.factories import TOWNSHIP, VILLAGE_A, VILLAGE_B, VILLAGE_C, build_county

from ctown.catalogue.service import load_catalogue
from ctown.collection.models import UploadLog
from ctown.crypto import FieldCipher
from ctown.ingest.models import Batch, CurrentValue, IndicatorValue
from ctown.quality import svg
from ctown.quality.models import HealthProbe
from ctown.quality.service import kpi_report
from ctown.registry.models import Subject

NOW = dt.datetime(2026, 11, 24, 8, 0, tzinfo=dt.UTC)
WHEN = dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.UTC)


def required_codes(kind: str) -> list[str]:
    return [i.code for i in load_catalogue().for_kind(kind) if i.required]


def ids(session: Session, kind: str, village: str) -> list[int]:
    return list(session.scalars(sa.select(Subject.id).where(Subject.kind == kind,
                                                            Subject.region_code == village)))


def batch(session: Session, department: str, status: str = "done") -> int:
    b = Batch(department=department, external_id=f"{department}-{status}-{WHEN.timestamp()}-"
              f"{session.scalar(sa.select(sa.func.count()).select_from(Batch))}",
              source_name="test", status=status, catalogue_version=1, created_at=WHEN)
    session.add(b)
    session.flush()
    return b.id


def current(session: Session, subjects: list[int], codes: list[str], batch_id: int) -> None:
    session.execute(sa.insert(CurrentValue), [
        {"subject_id": s, "indicator_code": c, "value_num": 1.0, "observed_on": dt.date(2026, 11, 1),
         "batch_id": batch_id, "department": "village", "recorded_at": WHEN}
        for s in subjects for c in codes])


def history(session: Session, subject: int, department: str, days: list[int], batch_id: int
            ) -> None:
    session.execute(sa.insert(IndicatorValue), [
        {"subject_id": subject, "indicator_code": "I1101", "value_num": 1.0,
         "observed_on": dt.date(2026, 11, d), "batch_id": batch_id, "department": department,
         "catalogue_version": 1, "recorded_at": WHEN, "digest": "0" * 64} for d in days])


@pytest.fixture
def county(session: Session, tmp_path: Path) -> Session:
    build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=3)
    village_batch = batch(session, "village")
    # Village A: every household has all its required indicators; its people have none.
    current(session, ids(session, "household", VILLAGE_A), required_codes("household"),
            village_batch)
    # Village B: one household has two of them.
    current(session, ids(session, "household", VILLAGE_B)[:1], required_codes("household")[:2],
            village_batch)
    a, b = ids(session, "household", VILLAGE_A)[0], ids(session, "household", VILLAGE_B)[0]
    history(session, a, "village", [2, 5, 9, 12, 16], village_batch)
    history(session, a, "agri", [5, 20], batch(session, "agri"))
    history(session, b, "village", [3, 4, 10], village_batch)
    for status in ["done"] * 8 + ["failed"]:
        batch(session, "bank", status)
    session.add_all([UploadLog(at=WHEN, terminal_id="t", village_code=VILLAGE_A, outcome=o,
                               code=c, reason_zh="x", reason_en="x")
                     for o, c in [("accepted", "accepted")] * 3 + [("refused", "tampered")]
                     + [("refused", "unknown_terminal")] * 5])
    session.add_all([HealthProbe(at=WHEN, component="database", ok=i != 0, latency_ms=1)
                     for i in range(50)])
    session.flush()
    return session


def test_completeness_per_village_township_and_department(county: Session) -> None:
    report = kpi_report(county, load_catalogue(), months=1, now=NOW)
    h, p = len(required_codes("household")), len(required_codes("person"))
    villages = {v.code: v for v in report.villages}
    a = villages[VILLAGE_A]
    assert (a.required, a.present) == (3 * h + 6 * p, 3 * h)
    assert a.completeness == pytest.approx(3 * h / (3 * h + 6 * p))
    assert villages[VILLAGE_B].present == 2
    assert villages[VILLAGE_C].present == 0 and villages[VILLAGE_C].completeness == 0
    township = {t.code: t for t in report.townships}[TOWNSHIP]
    assert (township.required, township.present) == (2 * (3 * h + 6 * p), 3 * h + 2)
    assert {v.township for v in report.villages} >= {TOWNSHIP}
    village_dept = {d.code: d for d in report.departments}["village"]
    village_codes = [c for c in required_codes("household")
                     if load_catalogue().get(c).source == "village"]
    assert village_dept.required == 9 * len(village_codes)
    completeness = {t.key: t for t in report.targets}["completeness"]
    assert completeness.passed is False
    assert completeness.value == pytest.approx((3 * h + 2) / (3 * (3 * h + 6 * p)))


def test_timeliness_counts_update_days_against_4_and_6(county: Session) -> None:
    report = kpi_report(county, load_catalogue(), months=1, now=NOW)
    assert report.as_of == dt.date(2026, 11, 20) and report.window_start == dt.date(2026, 11, 1)
    villages = {v.code: v for v in report.villages}
    assert villages[VILLAGE_A].updates_per_month == 6  # days 2 5 9 12 16 20 (5 counted once)
    assert villages[VILLAGE_B].updates_per_month == 3
    departments = {d.code: d for d in report.departments}
    assert departments["village"].updates_per_month == 8  # 2 3 4 5 9 10 12 16
    assert departments["agri"].updates_per_month == 2
    targets = {t.key: t for t in report.targets}
    assert targets["timeliness_4"].value == 9 and targets["timeliness_4"].passed
    assert targets["timeliness_6"].passed
    # Over three months the two empty months count: 9 / 3 = 3 a month, below both targets.
    quarter = {t.key: t for t in kpi_report(county, load_catalogue(), months=3,
                                            now=NOW).targets}
    assert quarter["timeliness_4"].value == 3 and quarter["timeliness_4"].passed is False
    assert [p.updates for p in kpi_report(county, load_catalogue(), months=3,
                                          now=NOW).monthly] == [0, 0, 9]


def test_stability_from_batches_uploads_and_probes(county: Session) -> None:
    report = kpi_report(county, load_catalogue(), months=1, now=NOW)
    departments = {d.code: d for d in report.departments}
    assert departments["bank"].stability == pytest.approx(8 / 9)
    assert departments["bank"].attempts == 9
    # Refused forgeries (unknown terminal) are not stability failures; a damaged upload is.
    assert {v.code: v for v in report.villages}[VILLAGE_A].stability == pytest.approx(3 / 4)
    stability = {t.key: t for t in report.targets}["stability"]
    ok, attempts = (8 + 2) + 3 + 49, (9 + 2) + 4 + 50
    assert stability.value == pytest.approx(ok / attempts) and stability.passed is False


def test_scope_limits_to_the_township(county: Session) -> None:
    report = kpi_report(county, load_catalogue(), prefix=TOWNSHIP[:9], months=1, now=NOW)
    assert {v.code for v in report.villages} == {VILLAGE_A, VILLAGE_B}
    assert [t.code for t in report.townships] == [TOWNSHIP]


def test_query_count_does_not_grow_with_the_data(county: Session, tmp_path: Path) -> None:
    def queries() -> int:
        seen: list[str] = []
        bind = county.get_bind()
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(bind, "before_cursor_execute", listener)
        try:
            kpi_report(county, load_catalogue(), months=3, now=NOW)
        finally:
            event.remove(bind, "before_cursor_execute", listener)
        return len(seen)

    before = queries()
    more = ids(county, "household", VILLAGE_C)
    current(county, more, required_codes("household"), batch(county, "agri"))
    for s in more:
        history(county, s, "agri", list(range(1, 20)), batch(county, "agri"))
    assert queries() == before <= 12


def test_svg_charts_escape_labels_and_fetch_nothing() -> None:
    chart = svg.bars([svg.Bar("<script>x</script>", 0.5, "50%"), svg.Bar("无数据", None, "-")],
                     target=0.95, maximum=1.0, title="完整率 & 目标")
    assert "<script>" not in chart and "&lt;script&gt;" in chart
    assert "href" not in chart and "http://www.w3.org/2000/svg" in chart
    assert chart.count("<rect") == 2
    line = svg.line([("2026-10", 3.0), ("2026-11", 7.0)], targets=[4, 6], title="更新")
    assert line.count("<circle") == 2 and line.count("stroke-dasharray") == 2
