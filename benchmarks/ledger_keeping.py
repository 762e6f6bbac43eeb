"""Ingest with the ledger kept in every commit (#12 item 10) against ingest without the ledger.

The same synthetic county is loaded into a fresh database, alternately: *without* (no keeper: the
records stay pending, as before this issue) and *with* (``ctown.ledger.keeping`` installed on the
engine: every commit appends its records and a checkpoint is signed at the end). Goal: *with*
within 20 % of *without*. Medians of ``--repeat`` runs of each, in one process, on SQLite and
PostgreSQL; each run's log is checked complete (nothing pending).

    .venv/bin/python benchmarks/ledger_keeping.py [--households 5000] [--repeat 3] [--pg URL]

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ingest import county, fresh_database, pg_url  # the ingest benchmark's helpers

GOAL = 1.20


def one_load(url: str, folder: Path, var: Path, keep: bool) -> float:
    from sqlalchemy.orm import Session

    from ctown.db import make_engine, session_factory
    from ctown.ingest.tasks import plan, run
    from ctown.ledger import keeping
    from ctown.ledger.integrity import verify_log
    from ctown.privacy.keyring import open_cipher
    from ctown.settings import Settings

    settings = Settings(database_url=url, var_dir=var)
    engine = make_engine(url)
    cipher = open_cipher(settings, engine)
    planned, skipped = plan([folder])
    started = time.perf_counter()
    if keep:
        keeping.install(engine, settings)
    totals = run(session_factory(engine), cipher, planned, skipped=skipped)
    if keep:
        keeping.uninstall(engine)  # the checkpoint at the end of the run is part of the time
    seconds = time.perf_counter() - started
    assert not totals.failed, totals.to_json()
    if keep:
        with Session(engine) as s:
            report = verify_log(s)
        assert report.ok and not any(report.pending.values()), report.as_json()
    engine.dispose()
    return seconds


def backend(kind: str, pg: str | None, folder: Path, repeat: int) -> dict[str, Any]:
    times: dict[str, list[float]] = {"without": [], "with": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            for mode in ("without", "with"):
                url, drop = fresh_database(kind, pg, Path(tmp))
                try:
                    seconds = one_load(url, folder, Path(tmp) / f"var-{mode}-{i}", mode == "with")
                finally:
                    drop()
                times[mode].append(seconds)
                print(f"{kind:10} {mode:8} run {i + 1}: {seconds:6.1f} s", flush=True)
    without, kept = statistics.median(times["without"]), statistics.median(times["with"])
    ratio = kept / without
    print(f"{kind:10} median without {without:.1f} s, with {kept:.1f} s: ratio {ratio:.3f} "
          f"({'met' if ratio <= GOAL else 'NOT met'}, goal <= {GOAL})", flush=True)
    return {"without_s": round(without, 2), "with_s": round(kept, 2), "ratio": round(ratio, 3),
            "runs": {k: [round(v, 2) for v in vs] for k, vs in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", default=None)
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    folder = county(args.households, args.seed)
    pg = pg_url(args.pg)
    out: dict[str, Any] = {"households": args.households, "goal_ratio": GOAL}
    if not args.no_sqlite:
        out["sqlite"] = backend("sqlite", None, folder, args.repeat)
    if pg:
        out["postgresql"] = backend("postgresql", pg, folder, args.repeat)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
