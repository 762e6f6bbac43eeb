"""三率 over a county-sized credit file: how long ``kpi_report`` takes, against reading the history.

Builds a throw-away SQLite database (or PostgreSQL with ``--postgres URL``) with N households,
their members, and V indicator values spread over 12 departments and 90 days, then times
``kpi_report`` and, as the baseline in the same process, a plain full read of the three columns of
``indicator_values`` it needs. Prints the ratio; the last line is one JSON object.

    .venv/bin/python benchmarks/quality.py [--households 20000] [--values 1000000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import sqlalchemy as sa

from ctown.catalogue.service import load_catalogue
from ctown.db import make_engine, session_factory
from ctown.ingest.models import Batch, CurrentValue, IndicatorValue
from ctown.migrate import upgrade
from ctown.quality.service import kpi_report
from ctown.registry.models import Region, Subject

DEPARTMENTS = ["psb", "nres", "agri", "samr", "tax", "court", "hrss", "civil", "util", "bank",
               "insur", "village"]
NOW = dt.datetime(2026, 11, 24, 8, tzinfo=dt.UTC)


def regions(conn: sa.Connection, villages: int) -> list[str]:
    county = "330521000000"
    rows = [{"code": county, "name": "县", "name_en": "c", "level": "county", "parent_code": None}]
    codes = []
    for t in range(10):
        town = f"330521{100 + t:03d}000"
        rows.append({"code": town, "name": f"镇{t}", "name_en": f"t{t}", "level": "township",
                     "parent_code": county})
        for v in range(villages // 10):
            code = f"330521{100 + t:03d}{201 + v:03d}"
            codes.append(code)
            rows.append({"code": code, "name": f"村{t}-{v}", "name_en": f"v{t}-{v}",
                         "level": "village", "parent_code": town})
    conn.execute(sa.insert(Region), rows)
    return codes


def build(url: str, households: int, values: int) -> None:
    rng = np.random.default_rng(7)
    engine = make_engine(url)
    upgrade(engine)
    catalogue = load_catalogue()
    with engine.begin() as conn:
        villages = regions(conn, 200)
        now = NOW
        hh = [{"id": i + 1, "kind": "household", "name": f"户{i}", "household_no": f"H{i:07d}",
               "region_code": villages[i % len(villages)], "created_at": now, "updated_at": now}
              for i in range(households)]
        people = [{"id": households + 1 + j, "kind": "person", "name": f"人{j}",
                   "household_id": 1 + j // 3, "region_code": villages[(j // 3) % len(villages)],
                   "created_at": now, "updated_at": now} for j in range(households * 3)]
        conn.execute(sa.insert(Subject), hh)
        conn.execute(sa.insert(Subject), people)
        conn.execute(sa.insert(Batch), [{"id": 1, "department": "agri", "external_id": "b",
                                         "source_name": "bench", "status": "done",
                                         "catalogue_version": 1, "created_at": now}])
        required = [i.code for i in catalogue.for_kind("household") if i.required]
        present = rng.random((households, len(required))) < 0.9
        conn.execute(sa.insert(CurrentValue), [
            {"subject_id": h + 1, "indicator_code": code, "value_num": 1.0,
             "observed_on": dt.date(2026, 11, 1), "batch_id": 1, "department": "agri",
             "recorded_at": now}
            for h in range(households) for k, code in enumerate(required) if present[h, k]])
        subjects = rng.integers(1, households + 1, values)
        days = rng.integers(0, 90, values)
        depts = rng.integers(0, len(DEPARTMENTS), values)
        base = dt.date(2026, 8, 27)
        for start in range(0, values, 100_000):
            stop = min(start + 100_000, values)
            conn.execute(sa.insert(IndicatorValue), [
                {"subject_id": int(subjects[i]), "indicator_code": "I1101", "value_num": 1.0,
                 "observed_on": base + dt.timedelta(days=int(days[i])), "batch_id": 1,
                 "department": DEPARTMENTS[depts[i]], "catalogue_version": 1,
                 "recorded_at": now, "digest": "0" * 64} for i in range(start, stop)])
    engine.dispose()


def measure(url: str) -> dict[str, float]:
    engine = make_engine(url)
    factory = session_factory(engine)
    with factory() as session:
        started = time.perf_counter()
        rows = session.execute(sa.select(IndicatorValue.department, IndicatorValue.subject_id,
                                         IndicatorValue.observed_on)).all()
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        report = kpi_report(session, load_catalogue(), months=3, now=NOW)
        elapsed = time.perf_counter() - started
    engine.dispose()
    return {"rows_read": len(rows), "baseline_s": round(baseline, 3),
            "kpi_s": round(elapsed, 3), "ratio": round(elapsed / baseline, 2),
            "villages": len(report.villages),
            "completeness": round(report.targets[0].value or 0, 4)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=20_000)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="admin URL, e.g. postgresql://postgres@127.0.0.1/postgres")
    args = parser.parse_args()
    results: dict[str, object] = {"households": args.households, "values": args.values}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        started = time.perf_counter()
        build(url, args.households, args.values)
        print(f"sqlite: built in {time.perf_counter() - started:.1f}s")
        results["sqlite"] = measure(url)
        print("sqlite:", results["sqlite"])
    if args.postgres:
        admin = "postgresql+psycopg://" + args.postgres.split("://", 1)[1]
        name = f"ctown_bench_{uuid.uuid4().hex[:8]}"
        eng = make_engine(admin, isolation_level="AUTOCOMMIT")
        with eng.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(admin).set(database=name).render_as_string(False)
        try:
            build(url, args.households, args.values)
            results["postgresql"] = measure(url)
            print("postgresql:", results["postgresql"])
        finally:
            with eng.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            eng.dispose()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
