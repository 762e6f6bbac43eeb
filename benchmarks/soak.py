"""Soak (#12 item 14): mixed traffic against the real server for ``--minutes`` (10 by default).

A county of 2,000 graded households (``ctown.lending.sample``) on SQLite in a temporary folder (or
PostgreSQL with ``--pg-admin-url``), one ``ctown serve``-like uvicorn process, and four kinds of
client, each a closed loop with an exponential think time (mean ``--think`` s, default 0.5):

* farmers reading their own page (``GET /api/v1/me``, ``GET /api/v1/lending/applications``),
* village officers listing the village's households (``GET /households``, a page) and the queue,
* farmers applying (``POST /api/v1/lending/decisions``),
* a department pushing batches of 200 rows with its key (``POST /api/v1/feeds/agri/batches``).

Printed: errors (any answer that is not the expected status, and any transport error) — the target
is none; the server's resident memory (VmRSS of the process, from /proc) after the first minute and
at the end — growth under 10 %; and p50/p99 per endpoint over the first and the last minute, with
their ratio (the fair baseline: the same server, the same traffic, at the start). Last line: one
JSON object with every figure.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--think 0.5] [--pg-admin-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ctown.accounts.models import User  # noqa: E402
from ctown.accounts.service import issue_token  # noqa: E402
from ctown.db import make_engine, session_factory  # noqa: E402
from ctown.ingest import feeds  # noqa: E402
from ctown.lending import sample  # noqa: E402
from ctown.migrate import upgrade  # noqa: E402

BENCH_DB = "ctown_soak_bench"


@dataclass
class Fixture:
    farmers: list[tuple[str, int]]
    officers: list[str]
    feed_key: str


def prepare(url: str, farmers: int, officers: int) -> Fixture:
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        sample.build(session, households=12)
        ids = sample.add_households(session, sample.VILLAGE, 2000, seed=11,
                                    grades=["A1", "A2", "B1", "B2", "C1"], prefix="S")
        farmer_tokens = []
        for i, hid in enumerate(ids[:farmers]):
            user = User(username=f"soak_farmer_{i}", display_name=f"农户{i}", role="farmer",
                        region_code=sample.VILLAGE, subject_id=hid)
            session.add(user)
            session.flush()
            farmer_tokens.append((issue_token(session, user, "soak"), hid))
        officer_tokens = []
        for i in range(officers):
            user = User(username=f"soak_village_{i}", display_name=f"村信息员{i}",
                        role="village_officer", region_code=sample.VILLAGE)
            session.add(user)
            session.flush()
            officer_tokens.append(issue_token(session, user, "soak"))
        feeds.add_department(session, None, code="agri", name="农业农村局")
        key = feeds.issue_key(session, None, "agri").key
    engine.dispose()
    return Fixture(farmer_tokens, officer_tokens, key)


def pg_database(admin_url: str, *, create: bool) -> str:
    import sqlalchemy as sa

    admin = "postgresql+psycopg://" + admin_url.split("://", 1)[1]
    engine = make_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)'))
        if create:
            conn.execute(sa.text(f'CREATE DATABASE "{BENCH_DB}"'))
    engine.dispose()
    return str(sa.engine.make_url(admin).set(database=BENCH_DB).render_as_string(False))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, var: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var),
           "CTOWN_SMS_BACKEND": "null"}
    proc = subprocess.Popen([sys.executable, "-m", "ctown", "serve", "--port", str(port)],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("server did not start")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


@dataclass
class Record:
    """Latencies per endpoint, by the second of the run they started in; errors with a sample."""

    started: float
    times: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)

    def add(self, name: str, began: float, seconds: float) -> None:
        self.times.setdefault(name, []).append((began - self.started, seconds))

    def error(self, name: str, what: str) -> None:
        self.errors[name] = self.errors.get(name, 0) + 1
        if len(self.examples) < 10:
            self.examples.append(f"{name}: {what}")


async def call(client: httpx.AsyncClient, rec: Record, name: str, method: str, url: str,
               expect: tuple[int, ...], **kw: object) -> None:
    began = time.monotonic()
    try:
        response = await client.request(method, url, **kw)  # type: ignore[arg-type]
    except httpx.HTTPError as exc:
        rec.error(name, type(exc).__name__)
        return
    rec.add(name, began, time.monotonic() - began)
    if response.status_code not in expect:
        rec.error(name, f"{response.status_code} {response.text[:120]}")


async def client_loop(kind: str, base: str, fx: Fixture, rec: Record, until: float,
                      think: float, rng: random.Random, index: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        batch = 0
        while time.monotonic() < until:
            await asyncio.sleep(rng.expovariate(1 / think))
            if kind == "read":
                token, _hid = fx.farmers[index % len(fx.farmers)]
                auth = {"Authorization": f"Bearer {token}"}
                await call(client, rec, "GET /api/v1/me", "GET", "/api/v1/me", (200,),
                           headers=auth)
                await call(client, rec, "GET /api/v1/lending/applications", "GET",
                           "/api/v1/lending/applications", (200,), headers=auth)
            elif kind == "list":
                auth = {"Authorization": f"Bearer {fx.officers[index % len(fx.officers)]}"}
                await call(client, rec, "GET /households", "GET", "/households", (200,),
                           headers=auth)
                await call(client, rec, "GET /api/v1/lending/queue", "GET",
                           "/api/v1/lending/queue", (200,), headers=auth)
            elif kind == "apply":
                token, _hid = fx.farmers[(index * 7 + batch) % len(fx.farmers)]
                await call(client, rec, "POST /api/v1/lending/decisions", "POST",
                           "/api/v1/lending/decisions", (200,),
                           headers={"Authorization": f"Bearer {token}"},
                           json={"product_code": "rcb_credit", "amount": "30000",
                                 "term_months": 12})
            else:
                rows = [{"身份证号": f"33052119800101{(batch * 200 + i) % 10000:04d}",
                         "耕地面积（亩）": str(rng.randint(1, 30))} for i in range(200)]
                await call(client, rec, "POST /api/v1/feeds/agri/batches", "POST",
                           "/api/v1/feeds/agri/batches", (200,),
                           headers={"Authorization": f"Bearer {fx.feed_key}"},
                           json={"batch_id": f"soak-{index}-{batch}", "rows": rows})
            batch += 1


def window(rec: Record, name: str, lo: float, hi: float) -> dict[str, float]:
    values = sorted(s for t, s in rec.times.get(name, []) if lo <= t < hi)
    if not values:
        return {"n": 0, "p50_ms": float("nan"), "p99_ms": float("nan")}
    p99 = values[min(len(values) - 1, round(0.99 * (len(values) - 1)))]
    return {"n": len(values), "p50_ms": round(statistics.median(values) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1)}


async def soak(base: str, fx: Fixture, seconds: float, think: float, server_pid: int
               ) -> dict[str, object]:
    rec = Record(started=time.monotonic())
    until = rec.started + seconds
    mix = [("read", 12), ("list", 4), ("apply", 4), ("feed", 1)]
    rng = random.Random(2026)
    tasks = [asyncio.create_task(client_loop(kind, base, fx, rec, until, think,
                                             random.Random(rng.random()), i))
             for kind, n in mix for i in range(n)]
    warm = min(60.0, seconds / 3)
    await asyncio.sleep(warm)
    rss_start = rss_kb(server_pid)
    await asyncio.gather(*tasks)
    rss_end = rss_kb(server_pid)
    edge = min(60.0, seconds / 3)
    endpoints = {}
    for name in sorted(rec.times):
        first, last = window(rec, name, 0, edge), window(rec, name, seconds - edge, seconds)
        endpoints[name] = {"first": first, "last": last,
                           "p99_ratio_last_first": round(last["p99_ms"] / first["p99_ms"], 2)
                           if first["n"] and last["n"] else None}
    return {"seconds": seconds, "requests": sum(len(v) for v in rec.times.values()),
            "errors": rec.errors, "error_examples": rec.examples,
            "rss_mb_after_warmup": round(rss_start / 1024, 1),
            "rss_mb_end": round(rss_end / 1024, 1),
            "rss_growth_pct": round(100 * (rss_end - rss_start) / max(rss_start, 1), 1),
            "endpoints": endpoints}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--think", type=float, default=0.5)
    parser.add_argument("--pg-admin-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        var = Path(tmp)
        url = (pg_database(args.pg_admin_url, create=True) if args.pg_admin_url
               else f"sqlite:///{var / 'soak.sqlite3'}")
        fx = prepare(url, farmers=100, officers=4)
        port = free_port()
        server = start_server(url, var, port)
        try:
            result = asyncio.run(soak(f"http://127.0.0.1:{port}", fx, args.minutes * 60,
                                      args.think, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
            if args.pg_admin_url:
                pg_database(args.pg_admin_url, create=False)
    db = "postgresql" if args.pg_admin_url else "sqlite"
    print(f"soak on {db}: {result['requests']} requests in {args.minutes:g} min, "
          f"errors {sum(result['errors'].values()) if result['errors'] else 0}")  # type: ignore[union-attr]
    for example in result["error_examples"]:  # type: ignore[attr-defined]
        print("  error:", example)
    print(f"server memory: {result['rss_mb_after_warmup']} MB after warm-up, "
          f"{result['rss_mb_end']} MB at the end ({result['rss_growth_pct']:+} %)")
    print(f"{'endpoint':40} {'p99 first':>10} {'p99 last':>10} {'last/first':>10}")
    for name, e in result["endpoints"].items():  # type: ignore[attr-defined]
        print(f"{name:40} {e['first']['p99_ms']:>10} {e['last']['p99_ms']:>10} "
              f"{e['p99_ratio_last_first']!s:>10}")
    print(json.dumps({"db": db, **result}, ensure_ascii=False))


if __name__ == "__main__":
    main()
