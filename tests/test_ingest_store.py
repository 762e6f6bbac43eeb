"""The bulk writes of the credit file on both databases: current values derived inside the
database from the rows just written, and the read-ahead that prepares the next file."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.ingest import readahead
from ctown.ingest.digest import digests
from ctown.ingest.models import Batch, CurrentValue, IndicatorValue
from ctown.ingest.readers import ReadError
from ctown.ingest.service import load_file, record_failure
from ctown.ingest.store import Store
from ctown.ingest.tasks import plan, run
from test_ingest_support import cipher_at, seed_regions, write_county

NOW = dt.datetime(2026, 7, 1, 2, 0, tzinfo=dt.UTC)


def _values(batch_id: int, rows: list[tuple[int, str, float, dt.date]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={"subject_id": pl.Int64, "indicator_code": pl.String,
                                       "value_num": pl.Float64, "observed_on": pl.Date},
                         orient="row")
    frame = frame.with_columns(
        pl.lit(None, pl.String).alias("value_text"), pl.lit(batch_id, pl.Int64).alias("batch_id"),
        pl.lit("bank").alias("department"), pl.lit(1, pl.Int64).alias("catalogue_version"),
        pl.lit(NOW).cast(pl.Datetime("us", "UTC")).alias("recorded_at"),
        pl.int_range(0, pl.len()).alias("__seq__"))
    frame = frame.sort("subject_id", "indicator_code", "observed_on", "__seq__")
    return frame.with_columns(digests(frame))


def _current(session: Session) -> dict[tuple[int, str], tuple[float, dt.date]]:
    return {(c.subject_id, c.indicator_code): (c.value_num, c.observed_on)
            for c in session.scalars(sa.select(CurrentValue))}


def test_current_values_keep_the_latest_observation(session: Session) -> None:
    store = Store(session)
    d = dt.date
    store.store_values(_values(1, [(1, "I0501", 10, d(2025, 6, 30)), (2, "I0501", 20, d(2025, 6, 30)),
                                   (3, "I0501", 30, d(2025, 6, 30))]))
    # One batch with the same key twice (out of order) and a late file with an older date.
    store.store_values(_values(2, [(1, "I0501", 12, d(2025, 9, 30)), (1, "I0501", 11, d(2025, 7, 31)),
                                   (2, "I0501", 19, d(2025, 1, 31)), (4, "I0501", 40, d(2025, 6, 30))]))
    assert _current(session) == {(1, "I0501"): (12, d(2025, 9, 30)),
                                 (2, "I0501"): (20, d(2025, 6, 30)),
                                 (3, "I0501"): (30, d(2025, 6, 30)),
                                 (4, "I0501"): (40, d(2025, 6, 30))}
    assert session.scalar(sa.select(sa.func.count()).select_from(IndicatorValue)) == 7


def _state(factory: sessionmaker[Session]) -> tuple[object, ...]:
    with factory() as s:
        values = sorted(s.execute(sa.select(
            IndicatorValue.subject_id, IndicatorValue.indicator_code, IndicatorValue.value_num,
            IndicatorValue.value_text, IndicatorValue.observed_on, IndicatorValue.department)).all())
        current = sorted(s.execute(sa.select(
            CurrentValue.subject_id, CurrentValue.indicator_code, CurrentValue.value_num,
            CurrentValue.value_text, CurrentValue.observed_on)).all())
        batches = sorted(s.execute(sa.select(Batch.source_name, Batch.status, Batch.received,
                                             Batch.accepted, Batch.quarantined,
                                             Batch.duplicates)).all())
    return values, current, batches


@pytest.fixture
def fresh(db_factory: object) -> Iterator[Callable[[], sessionmaker[Session]]]:
    engines: list[Engine] = []

    def make() -> sessionmaker[Session]:
        engines.append(make_engine(db_factory.migrated_url()))  # type: ignore[attr-defined]
        return session_factory(engines[-1])

    yield make
    for engine in engines:
        engine.dispose()


@pytest.mark.parametrize("buffer", [readahead.BUFFER, 0], ids=["grouped", "streamed"])
def test_read_ahead_load_equals_file_by_file(fresh: Callable[[], sessionmaker[Session]],
                                             tmp_path: Path, buffer: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """``run`` reads and validates the next files in a thread and lets small files share a
    transaction (``buffer`` 0: every file is streamed, in a transaction of its own); the end
    state is that of loading the same files one by one — with a file that cannot be read, and
    a file sent twice."""
    monkeypatch.setattr(readahead, "BUFFER", buffer)
    county = write_county(tmp_path / "county")
    (county / "bank" / "bank_1 again.csv").write_bytes((county / "bank" / "bank_1.csv").read_bytes())
    (county / "bank" / "broken.xlsx").write_bytes(b"not a workbook")
    cipher: FieldCipher = cipher_at(tmp_path)
    planned, skipped = plan([county])
    ahead = fresh()
    reports = run(ahead, cipher, planned, skipped=skipped).reports
    assert sorted(r.status for r in reports) == ["already_loaded", "failed", "loaded", "loaded",
                                                 "loaded"]
    serial = fresh()
    with serial.begin() as s:
        seed_regions(s)
    for item in planned:
        if item.kind != "feed":
            continue
        assert item.department is not None
        try:
            with serial.begin() as s:
                load_file(s, cipher, item.path, item.department)
        except ReadError as exc:
            with serial.begin() as s:
                record_failure(s, item.department, item.path, exc.message)
    assert _state(ahead) == _state(serial)
    assert _state(ahead)[0]  # values were written


def test_read_ahead_failure_outside_a_file_is_raised_not_waited_for(
        fresh: Callable[[], sessionmaker[Session]], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """If the read-ahead thread dies before handing a file over (here: the mappings cannot be
    loaded), the load raises that error instead of waiting for the file forever."""
    county = write_county(tmp_path / "county")
    planned, skipped = plan([county])

    def broken() -> None:
        raise OSError("mappings unreadable")

    monkeypatch.setattr(readahead, "load_mappings", broken)
    with pytest.raises(OSError, match="mappings unreadable"):
        run(fresh(), cipher_at(tmp_path), planned, skipped=skipped)
