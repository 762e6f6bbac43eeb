"""Whole-village credit granting (整村授信) of a village with 2,000 households: preview and batch
grant in one transaction, timed end to end (including the commit). Baseline in the same run:
reading the village's households once (the floor any batch has to pay).

    .venv/bin/python benchmarks/village_grant.py [--households 2000] [--database-url URL]

Last line: one JSON object with ``households`` and ``seconds`` (target < 10 s).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ctown.db import make_engine, session_factory  # noqa: E402
from ctown.lending import grants, notices, sample  # noqa: E402
from ctown.lending.models import CreditLine  # noqa: E402
from ctown.migrate import upgrade  # noqa: E402
from ctown.notify.setup import notifier_from_settings, start  # noqa: E402
from ctown.registry.models import Subject  # noqa: E402
from ctown.settings import Settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--database-url", default="")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctown-grant-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'grant.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        start(engine, notifier_from_settings(Settings(sms_backend="null")))
        factory = session_factory(engine)
        with factory.begin() as session:
            county = sample.build(session, households=12)
            sample.add_households(session, sample.VILLAGE3, args.households, seed=3, prefix="G",
                                  grades=["A1", "A2", "B1", "B2", "C1", "C2", "D1", "E1", None])
            bank_id = county.users["bank"].id
        from ctown.accounts.models import User

        t0 = time.perf_counter()
        with factory() as session:
            session.execute(sa.select(Subject.id, Subject.name).where(
                Subject.region_code == sample.VILLAGE3)).all()
        baseline = time.perf_counter() - t0

        t0 = time.perf_counter()
        with factory.begin() as session:
            bank = session.get(User, bank_id)
            view = grants.preview(session, bank, sample.VILLAGE3, "rcb_credit")
            preview_s = time.perf_counter() - t0
            batch = grants.grant(session, bank, sample.VILLAGE3, "rcb_credit")
            granted, total = batch.granted, batch.total_limit
        seconds = time.perf_counter() - t0
        notices.wait_sent(engine)
        with factory() as session:
            lines = session.scalar(sa.select(sa.func.count()).select_from(CreditLine))
        engine.dispose()
    print(f"village of {view.rows.height} households: preview {preview_s:.2f}s, "
          f"preview + grant + commit {seconds:.2f}s ({granted} lines, {total:,.0f} 元); "
          f"reading the households alone {baseline:.3f}s (×{seconds / baseline:.1f}); "
          f"target < 10 s: {'met' if seconds < 10 else 'NOT met'}")
    assert lines == granted
    print(json.dumps({"households": view.rows.height, "granted": granted,
                      "seconds": round(seconds, 3), "preview_seconds": round(preview_s, 3),
                      "baseline_read_seconds": round(baseline, 3),
                      "database": url.split(":")[0]}))


if __name__ == "__main__":
    main()
