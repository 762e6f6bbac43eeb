"""Feedback (#13 items 5 and 6), in process on SQLite: what the proxy-act listener costs the
instant loan decision, and how long the queue's operations take.

(a) ``lending.file_application`` by a farmer (not a proxy: the listener looks and does nothing),
    with ``proxy.marks`` listening and with it removed — the baseline, same run, same database;
    medians of ``--repeats`` rounds of ``--n`` applications each (rolled back after each round);
(b) ``feedback.submit`` per item, ``escalate_overdue`` over ``--items`` overdue items, and
    ``response_timeliness`` over them.

Last line: one JSON object.

    .venv/bin/python benchmarks/feedback.py [--n 200] [--repeats 5] [--items 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ctown.crypto import FieldCipher  # noqa: E402
from ctown.db import make_engine, session_factory, utcnow  # noqa: E402
from ctown.feedback import service  # noqa: E402
from ctown.lending import sample  # noqa: E402
from ctown.lending import service as lending  # noqa: E402
from ctown.lending.decision import Request  # noqa: E402
from ctown.migrate import upgrade  # noqa: E402
from ctown.proxy import marks  # noqa: E402

REQ = Request(Decimal("20000"), 12, "equal_instalment")


def _apply_round(factory: object, county: sample.County, n: int) -> float:
    with factory() as session:  # type: ignore[operator]
        farmer = session.merge(county.users["farmer"])
        start = time.perf_counter()
        for _ in range(n):
            lending.file_application(session, farmer, subject_id=None, product_code="rcb_credit",
                                     req=REQ)
        took = time.perf_counter() - start
        session.rollback()
    return took / n


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--items", type=int, default=2000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/bench.sqlite3")
        upgrade(engine)
        factory = session_factory(engine)
        with factory.begin() as session:
            county = sample.build(session, households=40)
        cipher = FieldCipher.load(Path(tmp) / "keys.json")
        marks.install()
        on, off = [], []
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            on.append(_apply_round(factory, county, args.n))
            event.remove(Engine, "after_execute", marks._after_execute)
            off.append(_apply_round(factory, county, args.n))
            event.listen(Engine, "after_execute", marks._after_execute)
        with factory() as session:
            out = _queue(session, county, cipher, args.items)
            session.rollback()
    result = {"apply_ms_listening": round(statistics.median(on) * 1e3, 3),
              "apply_ms_baseline": round(statistics.median(off) * 1e3, 3),
              "listener_ratio": round(statistics.median(on) / statistics.median(off), 3), **out}
    print(f"file_application: {result['apply_ms_listening']} ms with the listener, "
          f"{result['apply_ms_baseline']} ms without (ratio {result['listener_ratio']})")
    print(json.dumps(result))


def _queue(session: Session, county: sample.County, cipher: FieldCipher, items: int
           ) -> dict[str, float]:
    farmer = session.merge(county.users["farmer"])
    old = utcnow() - dt.timedelta(hours=50)
    start = time.perf_counter()
    for i in range(items):
        service.submit(session, farmer, subject_id=None, channel="page", text=f"反馈 {i}",
                       cipher=cipher, now=old)
    submit_ms = (time.perf_counter() - start) / items * 1e3
    start = time.perf_counter()
    moved = service.escalate_overdue(session)
    escalate_s = time.perf_counter() - start
    assert len(moved) == items
    start = time.perf_counter()
    service.response_timeliness(session, None, None, old, utcnow())
    figure_ms = (time.perf_counter() - start) * 1e3
    return {"submit_ms": round(submit_ms, 3), "escalate_s": round(escalate_s, 3),
            "escalated": items, "timeliness_ms": round(figure_ms, 3)}


if __name__ == "__main__":
    main()
