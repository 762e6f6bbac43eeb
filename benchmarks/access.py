"""The access layer's cost on the household list: the first page (50) and the total count, as each
role sees it, against the county administrator's list — a plain region-prefix filter, the query
every role ran before need-to-know — in the same process, on the same database.

    .venv/bin/python benchmarks/access.py [--households 20000] [--database-url URL] [--runs 7]

The bank's reach is the union of consents to its bank and its applicants/borrowers (subqueries);
the proxy's, the mandates in force. Medians of ``--runs`` runs; last line: one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ctown.access.scope import scope_subjects  # noqa: E402
from ctown.accounts.models import ProxyMandate, User  # noqa: E402
from ctown.db import make_engine, session_factory, utcnow  # noqa: E402
from ctown.lending import sample  # noqa: E402
from ctown.migrate import upgrade  # noqa: E402
from ctown.privacy.models import Consent  # noqa: E402
from ctown.registry.models import Subject  # noqa: E402

ROLES = ("admin", "township", "village", "bank", "proxy", "farmer", "merchant")


def build(session: sa.orm.Session, households: int) -> dict[str, User]:
    county = sample.build(session, households=12)
    per_village = households // 3
    ids: list[int] = []
    for n, village in enumerate((sample.VILLAGE, sample.VILLAGE2, sample.VILLAGE3)):
        ids += sample.add_households(session, village, per_village, seed=n, grades=[],
                                     prefix=f"B{n}")
    now = utcnow()
    # 5 % of the households consented to the bank; the proxy holds 30 mandates.
    session.execute(sa.insert(Consent), [
        {"subject_id": hid, "bank_code": "RCB", "purpose": "loan_application", "scope": "query",
         "granted_at": now - dt.timedelta(days=1), "valid_until": now + dt.timedelta(days=90)}
        for hid in ids[::20]])
    session.execute(sa.insert(ProxyMandate), [
        {"proxy_id": county.users["proxy"].id, "subject_id": hid, "granted_at": now,
         "valid_until": now + dt.timedelta(days=90)} for hid in ids[:30]])
    users = dict(county.users)
    users["merchant"] = sample._user(session, "t_merchant", sample.Role.merchant, sample.COUNTY)
    return users


def list_page(session: sa.orm.Session, actor: User) -> tuple[int, int]:
    stmt = scope_subjects(sa.select(Subject.id).where(Subject.kind == "household"), actor)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    page = session.scalars(stmt.order_by(Subject.region_code, Subject.id).limit(50)).all()
    return total, len(page)


def timed(session: sa.orm.Session, actor: User, runs: int) -> tuple[float, tuple[int, int]]:
    seen = list_page(session, actor)  # warm the caches and the plan
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        list_page(session, actor)
        times.append(time.perf_counter() - start)
    return statistics.median(times), seen


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=20_000)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ctown-access-") as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'access.sqlite3'}"
        engine = make_engine(url)
        upgrade(engine)
        factory = session_factory(engine)
        with factory.begin() as session:
            users = build(session, args.households)
            ids = {name: users[name].id for name in ROLES}
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
        result: dict[str, object] = {"database": engine.dialect.name,
                                     "households": args.households}
        with factory() as session:
            base, _ = timed(session, session.get(User, ids["admin"]), args.runs)
            result["admin_ms"] = round(base * 1000, 2)
            for name in ROLES[1:]:
                seconds, (total, shown) = timed(session, session.get(User, ids[name]), args.runs)
                ratio = seconds / base
                print(f"{name:9} {seconds * 1000:8.2f} ms  {ratio:5.2f}× the county list  "
                      f"({total:,} households, {shown} on the first page)")
                result[f"{name}_ratio"] = round(ratio, 2)
        engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
