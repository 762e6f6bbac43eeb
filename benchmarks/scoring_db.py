"""Whole-county rescoring from the database, end to end as ``ctown score --all`` does it: read the
credit file (``current_values`` + the 12-month history in ``indicator_values``) → features →
rule card + live learned scorecard → grade, PD → reasons → grades written (history kept, change
events for changed grades). On SQLite and PostgreSQL, each in its own child process (so each has
its own peak RSS).

Timed: a full run, a second full run with nothing changed, an incremental run after 1% of the
households received new values. Baseline in the same process: a raw ``SELECT`` of the same
``current_values`` rows into Polars (plain DBAPI cursor, ``fetchall``). Setup is not timed.

    .venv/bin/python benchmarks/scoring_db.py [--households 300000] [--db sqlite|postgresql|both]
PostgreSQL: ``CTOWN_TEST_DATABASE_URL`` (admin URL; a database ``ctown_bench_scoring_db`` is
created and dropped). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scoring import feature_rows

from ctown.db import make_engine, session_factory, transaction
from ctown.migrate import upgrade

PG_DB = "ctown_bench_scoring_db"
AS_OF = dt.date(2026, 6, 30)
PER_VILLAGE = 1000
CODED = ("I0506", "I1101")


def rss_mb() -> float:
    """Peak RSS since the last :func:`reset_peak` (Linux VmHWM), else of the whole process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    # "5" resets the peak RSS counter (Linux): the runs get their own peak.
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def bulk(conn: Any, table: str, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Setup inserts through the raw driver: COPY on PostgreSQL, executemany on SQLite."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
            for r in rows:
                cp.write_row(r)
    else:
        cur = raw.cursor()
        cur.executemany(f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                        f"({', '.join('?' * len(cols))})", rows)
        cur.close()


def regions(n: int) -> list[dict[str, Any]]:
    county = "330110000000"
    villages = max(1, -(-n // PER_VILLAGE))
    rows = [{"code": county, "name": "基准县", "level": "county", "parent_code": None}]
    for v in range(villages):
        town = f"330110{v // 20 + 1:03d}000"
        if v % 20 == 0:
            rows.append({"code": town, "name": f"镇{v // 20 + 1}", "level": "township",
                         "parent_code": county})
        rows.append({"code": f"{town[:9]}{v % 20 + 1:03d}", "name": f"村{v + 1}",
                     "level": "village", "parent_code": town})
    return rows


def credit_values(frame: pl.DataFrame, hh: np.ndarray, heads: np.ndarray, rng: np.random.Generator
                  ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """current_values rows (own indicators, the head's education) and the monthly history of
    on-time instalments (I0507) and days overdue (I0504) of the borrowers."""
    now = dt.datetime.now(dt.UTC)
    current: list[tuple[Any, ...]] = []
    own = [c for c in frame.columns if c.startswith("I")]
    for code in own:
        col = frame[code].to_list()
        for sid, v in zip(hh.tolist(), col, strict=True):
            if v is None:
                continue
            num, text = (None, v) if code in CODED else (float(v), None)
            current.append((sid, code, num, text, AS_OF, 1, "bank", now))
    for sid, v in zip(heads.tolist(), frame["head.I0101"].to_list(), strict=True):
        if v is not None:
            current.append((sid, "I0101", None, v, AS_OF, 1, "edu", now))
    history: list[tuple[Any, ...]] = []
    borrower = rng.random(len(hh)) < 0.35
    ontime = frame["hist.I0507.true.12"].to_numpy().astype(int)
    overdue = np.minimum(frame["hist.I0504.positive.12"].to_numpy().astype(int), 12)
    days = [AS_OF - dt.timedelta(days=30 * k) for k in range(12)]
    for i in np.flatnonzero(borrower).tolist():
        sid = int(hh[i])
        for k, day in enumerate(days):
            history.append((sid, "I0507", 1.0 if k < ontime[i] else 0.0, day, 1, "bank", 1,
                            now, "0" * 64))
            history.append((sid, "I0504", 30.0 if k < overdue[i] else 0.0, day, 1, "bank", 1,
                            now, "0" * 64))
    return current, history


CV_COLS = ["subject_id", "indicator_code", "value_num", "value_text", "observed_on", "batch_id",
           "department", "recorded_at"]
IV_COLS = ["subject_id", "indicator_code", "value_num", "observed_on", "batch_id", "department",
           "catalogue_version", "recorded_at", "digest"]


def build(url: str, n: int, seed: int = 7) -> dict[str, Any]:
    from ctown.registry.tasks import load_regions

    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    t0 = time.perf_counter()
    with transaction(factory) as s:
        load_regions(s, regions(n))
        villages = sorted(s.scalars(sa.text("SELECT code FROM regions WHERE level = 'village'")))
    frame = feature_rows(n, seed)
    rng = np.random.default_rng(seed)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        bulk(conn, "subjects", ["kind", "name", "region_code", "household_no", "created_at",
                                "updated_at"],
             [("household", f"户{i}", villages[i // PER_VILLAGE], f"B{i:07d}", now, now)
              for i in range(n)])
        hh = np.array([r[0] for r in conn.execute(sa.text(
            "SELECT id FROM subjects WHERE kind = 'household' ORDER BY household_no"))])
        ages = frame["age"].to_numpy().astype(int)
        bulk(conn, "subjects", ["kind", "name", "region_code", "household_id", "relation",
                                "birth_date", "created_at", "updated_at"],
             [("person", f"户主{i}", villages[i // PER_VILLAGE], int(hh[i]), "户主",
               dt.date(AS_OF.year - int(ages[i]), 1 + i % 12, 1), now, now) for i in range(n)])
        heads = np.array([r[0] for r in conn.execute(sa.text(
            "SELECT id FROM subjects WHERE kind = 'person' ORDER BY household_id"))])
        n_current = n_history = 0
        for lo in range(0, n, 50_000):  # in slices: the setup stays well under 1 GB
            current, history = credit_values(frame[lo:lo + 50_000], hh[lo:lo + 50_000],
                                             heads[lo:lo + 50_000], rng)
            bulk(conn, "current_values", CV_COLS, current)
            bulk(conn, "indicator_values", IV_COLS, history)
            n_current, n_history = n_current + len(current), n_history + len(history)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE"))
        else:  # a database at rest: the bulk load's pages moved from the WAL into the file
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
            conn.execute(sa.text("ANALYZE"))
        conn.commit()
    model = live_model(factory, frame)
    engine.dispose()
    return {"hh": hh, "current_rows": n_current, "history_rows": n_history,
            "setup_s": round(time.perf_counter() - t0, 1), "model": model}


def live_model(factory: Any, frame: pl.DataFrame) -> str:
    """A small scorecard trained on a sample of the same households, registered and made live
    (the three-party review is skipped: the benchmark is about the run, not the review)."""
    from ctown.scoring import review
    from ctown.scoring.county import score_distribution
    from ctown.scoring.model.apply import score_frame
    from ctown.scoring.model.scorecard import to_dict
    from ctown.scoring.model.train import Options, train_model
    from ctown.scoring.models import ModelVersion

    sample = frame.head(min(frame.height, 20_000)).drop("subject_id")
    result = train_model(sample, "bad", opts=Options(seed=42, repeats=1, folds=3,
                                                     challenger=False,
                                                     trends=("auto_asc_desc",)))
    dist = score_distribution(score_frame(sample, result.card).to_numpy())
    with transaction(factory) as s:
        v = review.register_version(s, actor=None, algorithm="woe-scorecard",
                                    fingerprint="b" * 64, metrics={"score_distribution": dist},
                                    artifact=to_dict(result.card), features=result.card.names)
        s.execute(sa.update(ModelVersion).where(ModelVersion.id == v.id).values(status="live"))
        return v.version


def baseline(factory: Any) -> float:
    """The same current_values rows, raw SELECT → Polars (no features, no scoring), in slices
    of 50,000 subject ids like the scoring run."""
    t = time.perf_counter()
    schema = {"subject_id": pl.Int64, "indicator_code": pl.Utf8, "value_num": pl.Float64,
              "value_text": pl.Utf8}
    parts = []
    with factory() as s:
        raw = s.connection().connection.driver_connection
        hi = s.scalar(sa.text("SELECT max(subject_id) FROM current_values"))
        mark = "%s" if s.connection().dialect.name == "postgresql" else "?"
        for lo in range(0, hi + 1, 50_000):
            cur = raw.cursor()
            cur.execute("SELECT subject_id, indicator_code, value_num, value_text FROM "
                        f"current_values WHERE subject_id BETWEEN {mark} AND {mark}",
                        (lo, lo + 49_999))
            parts.append(pl.DataFrame(cur.fetchall(), schema=schema, orient="row"))
            cur.close()
    assert sum(p.height for p in parts) > 0
    return time.perf_counter() - t


def change_one_percent(engine: Any, hh: np.ndarray, batch: int) -> int:
    """1% of the households: a new loan classification and days overdue (history + current)."""
    picked = hh[:: 100].tolist()
    now = dt.datetime.now(dt.UTC)
    day = AS_OF
    with engine.begin() as conn:
        bulk(conn, "indicator_values", IV_COLS,
             [(sid, "I0504", 45.0, day, batch, "bank", 1, now, "0" * 64) for sid in picked])
        conn.execute(sa.delete(sa.table("current_values", sa.column("subject_id"),
                                        sa.column("indicator_code")))
                     .where(sa.column("indicator_code").in_(["I0504", "I0506"]),
                            sa.column("subject_id").in_(picked)))
        bulk(conn, "current_values", CV_COLS,
             [(sid, code, num, text, day, batch, "bank", now) for sid in picked
              for code, num, text in (("I0504", 45.0, None), ("I0506", None, "3"))])
    return len(picked)


def timed_run(factory: Any, fn: Any, *args: Any) -> tuple[float, dict[str, Any]]:
    t = time.perf_counter()
    with transaction(factory) as s:
        summary = fn(s, *args)
    return time.perf_counter() - t, summary


def child(db: str, n: int) -> dict[str, Any]:
    from ctown.scoring import tasks

    tmp = tempfile.TemporaryDirectory()
    if db == "sqlite":
        url = f"sqlite:///{tmp.name}/bench.db"
    else:
        admin = os.environ["CTOWN_TEST_DATABASE_URL"].replace("postgresql://",
                                                              "postgresql+psycopg://", 1)
        adm = make_engine(admin, isolation_level="AUTOCOMMIT")
        with adm.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
            c.execute(sa.text(f"CREATE DATABASE {PG_DB}"))
        adm.dispose()
        url = admin.rsplit("/", 1)[0] + "/" + PG_DB
    built = build(url, n)
    engine = make_engine(url)
    factory = session_factory(engine)
    base = baseline(factory)
    rss_setup = rss_mb()
    reset_peak()
    full_s, full = timed_run(factory, tasks.score_all)
    again_s, again = timed_run(factory, tasks.score_all)
    changed = change_one_percent(engine, built["hh"], 1000)
    inc_s, inc = timed_run(factory, tasks.rescore_changed, 999)
    engine.dispose()
    if db == "postgresql":
        adm = make_engine(admin, isolation_level="AUTOCOMMIT")
        with adm.connect() as c:
            c.execute(sa.text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        adm.dispose()
    tmp.cleanup()
    return {"db": db, "households": n, "current_rows": built["current_rows"],
            "history_rows": built["history_rows"], "setup_s": built["setup_s"],
            "model_version": built["model"], "baseline_s": round(base, 3),
            "full_s": round(full_s, 3), "full_scored": full["scored"],
            "full_changed": full["changed"], "again_s": round(again_s, 3),
            "again_changed": again["changed"], "incremental_s": round(inc_s, 3),
            "incremental_households": changed, "incremental_scored": inc["scored"],
            "ratio_full_to_baseline": round(full_s / base, 2),
            "grades": full["grades"], "peak_rss_mb_setup": round(rss_setup),
            "peak_rss_mb": round(rss_mb())}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=300_000)
    ap.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    ap.add_argument("--child", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.db, args.households), ensure_ascii=False))
        return
    dbs = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    if "postgresql" in dbs and not os.environ.get("CTOWN_TEST_DATABASE_URL"):
        print("CTOWN_TEST_DATABASE_URL not set: PostgreSQL skipped")
        dbs.remove("postgresql")
    results: dict[str, dict[str, Any]] = {}
    for db in dbs:
        proc = subprocess.run([sys.executable, __file__, "--child", "--db", db,
                               "--households", str(args.households)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stderr[-3000:])
            raise SystemExit(f"{db} run failed")
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        results[db] = r
        print(f"{db:10s} households {r['households']:,} · current_values {r['current_rows']:,} · "
              f"history {r['history_rows']:,} (setup {r['setup_s']} s, not timed)")
        print(f"{'':10s} baseline raw SELECT → Polars {r['baseline_s']:.2f} s · full run "
              f"{r['full_s']:.2f} s ({r['full_scored']:,} scored, {r['full_changed']:,} changed, "
              f"{r['ratio_full_to_baseline']}× baseline) · unchanged run {r['again_s']:.2f} s · "
              f"incremental ({r['incremental_households']:,} households) {r['incremental_s']:.2f} s"
              f" · peak RSS {r['peak_rss_mb']} MB")
    out: dict[str, Any] = {"households": args.households}
    for db, r in results.items():
        out[f"seconds_{db}"] = r["full_s"]
        out[db] = {k: r[k] for k in ("baseline_s", "full_s", "again_s", "incremental_s",
                                     "ratio_full_to_baseline", "peak_rss_mb", "full_scored",
                                     "current_rows", "history_rows")}
    print(json.dumps(out, ensure_ascii=False))


if __name__ == "__main__":
    main()
