"""Benchmark of the feeds (R-1.10): about 1,000,000 rows of the synthetic county's department mix
ingested, validated, resolved and stored, on SQLite and PostgreSQL, against a raw bulk insert of
the same rows without validation (SQLite ``executemany`` in one transaction, PostgreSQL ``COPY``),
and a "floor": the indicator values our load produced, inserted into ``indicator_values`` alone
(the least any load that keeps the credit file's history must write), as a ratio to the raw insert.

    .venv/bin/python benchmarks/ingest.py [--households 55000] [--pg URL] [--no-sqlite]

Each load runs in a child process of its own, so its peak memory (ru_maxrss) is its own. The
county is generated once with ``ctown synth`` into ``/tmp/ctown-bench-county-<n>-<seed>`` and
reused. PostgreSQL comes from ``--pg``, ``CTOWN_BENCH_PG_URL`` or ``CTOWN_TEST_DATABASE_URL``.
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

GOAL_SECONDS = 60.0
GOAL_RSS_MB = 1024.0
GOAL_RATIO = 3.0


def county(households: int, seed: int) -> Path:
    out = Path(tempfile.gettempdir()) / f"ctown-bench-county-{households}-{seed}"
    if not (out / "manifest.json").exists():
        from ctown.synth.generator import generate

        started = time.perf_counter()
        generate(households=households, seed=seed, out=out)
        print(f"generated {out} in {time.perf_counter() - started:.1f} s", flush=True)
    return out


# -- databases ------------------------------------------------------------------------------------

def fresh_database(kind: str, pg_admin: str | None, tmp: Path) -> tuple[str, Any]:
    from ctown.db import make_engine
    from ctown.migrate import upgrade

    name = f"ctown_bench_{uuid.uuid4().hex[:10]}"
    if kind == "sqlite":
        url = f"sqlite:///{(tmp / (name + '.sqlite3')).as_posix()}"

        def drop() -> None:
            for suffix in ("", "-wal", "-shm"):
                Path(str(tmp / name) + ".sqlite3" + suffix).unlink(missing_ok=True)
    else:
        assert pg_admin
        admin = make_engine(pg_admin, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(pg_admin).set(database=name).render_as_string(False)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url, drop


def pg_url(value: str | None) -> str | None:
    url = value or os.environ.get("CTOWN_BENCH_PG_URL") or os.environ.get(
        "CTOWN_TEST_DATABASE_URL")
    if url and url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


# -- child processes ---------------------------------------------------------------------------------

def child(mode: str, url: str, county_dir: str, var: str) -> None:
    """Runs in its own process: one load (ours or raw), prints one JSON line."""
    from ctown.db import make_engine, session_factory

    engine = make_engine(url)
    started = time.perf_counter()
    cpu = time.process_time()
    if mode == "ours":
        from ctown.crypto import FieldCipher
        from ctown.ingest.tasks import plan, run

        planned, skipped = plan([Path(county_dir)])
        per_dept: dict[str, float] = {}
        marks: dict[str, float] = {}

        def hook(item: Any, event: str, _n: int) -> None:
            key = item.department or item.kind  # regions, consents
            if event == "start":
                marks[key] = time.perf_counter()
            elif event == "end":
                per_dept[key] = per_dept.get(key, 0.0) + time.perf_counter() - marks[key]

        totals = run(session_factory(engine), FieldCipher.load(Path(var) / "keys.json"), planned,
                     skipped=skipped, hook=hook).to_json()
        figures = {k: totals[k] for k in ("received", "accepted", "quarantined", "held",
                                          "duplicates", "values", "files", "failed_files")}
        figures["seconds_by_department"] = {k: round(v, 1) for k, v in sorted(per_dept.items())}
        # psb and samr create subjects through ctown.registry.tasks (encryption, change events)
        figures["registry_seconds"] = round(per_dept.get("psb", 0) + per_dept.get("samr", 0), 1)
    elif mode == "floor":  # county_dir carries the URL of the database "ours" loaded
        figures = values_floor(engine, county_dir)
        started = figures.pop("_insert_started")
    else:
        figures = raw_insert(engine, Path(county_dir), started)
        started = figures.pop("_insert_started")
    engine.dispose()  # timed: closing SQLite's last connection checkpoints what is left of the WAL
    figures.update(seconds=round(time.perf_counter() - started, 2),
                   cpu_seconds=round(time.process_time() - cpu, 2),
                   peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1))
    print(json.dumps(figures))


def raw_insert(engine: Any, county_dir: Path, started: float) -> dict[str, Any]:
    """Read every department file (not timed), then insert its rows as text, unvalidated."""
    import polars as pl

    from ctown.ingest.readers import describe, iter_chunks
    from ctown.ingest.store import copy_frame
    from ctown.ingest.tasks import plan

    planned, _ = plan([county_dir])
    frames: dict[str, list[pl.DataFrame]] = {}
    for item in planned:
        if item.department is None:
            continue
        for chunk in iter_chunks(describe(item.path)):
            frames.setdefault(item.department, []).append(chunk.frame)
    tables = {d: pl.concat(fs, how="diagonal_relaxed") for d, fs in frames.items()}
    rows = sum(t.height for t in tables.values())
    insert_started = time.perf_counter()
    with engine.begin() as conn:
        for dept, table in tables.items():
            table = table.rename({c: f"c{i}" for i, c in enumerate(table.columns)}).with_columns(
                pl.all().cast(pl.String))
            cols = ", ".join(f"{c} TEXT" for c in table.columns)
            conn.execute(sa.text(f"CREATE TABLE raw_{dept} ({cols})"))
            raw = conn.connection.driver_connection
            if engine.dialect.name == "sqlite":
                marks = ", ".join("?" * table.width)
                raw.executemany(f"INSERT INTO raw_{dept} VALUES ({marks})",
                                table.iter_rows())
            else:
                copy_frame(raw, f"raw_{dept}", table)
    return {"rows": rows, "_insert_started": insert_started}


def values_floor(engine: Any, source_url: str) -> dict[str, Any]:
    """The least any load of this county must write: the indicator values our load produced,
    read back (not timed) and inserted into ``indicator_values`` alone, with its indexes, in one
    transaction — no validation, no identities, no current values, no record keys."""
    import polars as pl

    from ctown.db import make_engine, session_factory
    from ctown.ingest.store import VALUE_COLUMNS, Store

    source = make_engine(source_url)
    with source.connect() as conn:
        frame = pl.read_database(f"SELECT {', '.join(VALUE_COLUMNS)} FROM indicator_values "
                                 "ORDER BY id", conn, infer_schema_length=None)
    source.dispose()
    # SQLite gives dates and times back as text; the store wants the load's types.
    if frame["observed_on"].dtype == pl.String:
        frame = frame.with_columns(pl.col("observed_on").str.to_date(),
                                   pl.col("recorded_at").str.to_datetime(time_zone="UTC"))
    frame = frame.with_columns(pl.col("recorded_at").dt.convert_time_zone("UTC"))
    started = time.perf_counter()
    with session_factory(engine).begin() as session:
        store = Store(session)
        for part in frame.iter_slices(100_000):  # the load's chunk size
            store.insert_values(part)
    return {"values": frame.height, "_insert_started": started}


def run_child(mode: str, url: str, county_dir: Path, var: Path) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", mode, url, str(county_dir),
                           str(var)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} load failed:\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def bench(kind: str, pg_admin: str | None, county_dir: Path, tmp: Path) -> dict[str, Any]:
    var = tmp / "var"
    var.mkdir(exist_ok=True)
    url, drop = fresh_database(kind, pg_admin, tmp)
    try:
        ours = run_child("ours", url, county_dir, var)
        floor_url, drop_floor = fresh_database(kind, pg_admin, tmp)
        try:
            floor = run_child("floor", floor_url, url, var)  # type: ignore[arg-type]
        finally:
            drop_floor()
    finally:
        drop()
    url, drop = fresh_database(kind, pg_admin, tmp)
    try:
        raw = run_child("raw", url, county_dir, var)
    finally:
        drop()
    ratio = ours["seconds"] / raw["seconds"] if raw["seconds"] else None
    floor_ratio = floor["seconds"] / raw["seconds"] if raw["seconds"] else None
    result = {"ours": ours, "raw": raw, "floor": floor,
              "ratio": round(ratio, 2) if ratio else None,
              "floor_ratio": round(floor_ratio, 2) if floor_ratio else None,
              "rows_per_second": round(ours["received"] / ours["seconds"]),
              "meets_60s": ours["seconds"] <= GOAL_SECONDS,
              "meets_1gb": ours["peak_rss_mb"] < GOAL_RSS_MB,
              "meets_3x": bool(ratio and ratio <= GOAL_RATIO)}
    print(f"{kind:10} by department: {ours.get('seconds_by_department')}", flush=True)
    print(f"{kind:10} ours {ours['seconds']:7.1f} s ({ours['received']:,} rows, "
          f"{ours['values']:,} values, peak {ours['peak_rss_mb']:.0f} MB)  raw {raw['seconds']:6.1f} s"
          f"  ratio {result['ratio']}×", flush=True)
    print(f"{kind:10} floor: the {floor['values']:,} values alone into indicator_values "
          f"{floor['seconds']:6.1f} s = {result['floor_ratio']}× raw", flush=True)
    return result


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=55_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--pg", default=None)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    county_dir = county(args.households, args.seed)
    manifest = json.loads((county_dir / "manifest.json").read_text())
    feed_rows = sum(d["rows"] for d in manifest["departments"].values())
    print(f"county: {args.households:,} households, {feed_rows:,} feed rows; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results: dict[str, Any] = {"households": args.households, "feed_rows": feed_rows,
                               "cores": os.cpu_count(), "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_sqlite:
            results["sqlite"] = bench("sqlite", None, county_dir, Path(tmp))
        admin = pg_url(args.pg)
        if admin:
            results["postgresql"] = bench("postgresql", admin, county_dir, Path(tmp))
        else:
            print("postgresql: skipped (set --pg, CTOWN_BENCH_PG_URL or CTOWN_TEST_DATABASE_URL)")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
