"""Load benchmark of the instant decision (POST /api/v1/lending/decisions) against the running server.

Prepares its own demo-like database (SQLite in a temporary folder: a county with 2,000 graded
households and 100 farmer accounts with API tokens), starts uvicorn on 127.0.0.1, then drives
100 concurrent applicants (asyncio keep-alive connections, loopback only, bounded by
count and time): first
GET /healthz as the baseline, then the decision. Prints p50/p99/rps for both; the last line is one
JSON object.

    .venv/bin/python benchmarks/lending_decision.py [--requests 3000] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from ctown.accounts.models import User  # noqa: E402
from ctown.accounts.service import issue_token  # noqa: E402
from ctown.db import make_engine, session_factory  # noqa: E402
from ctown.lending import sample  # noqa: E402
from ctown.migrate import upgrade  # noqa: E402


def prepare(url: str, applicants: int) -> list[tuple[str, int]]:
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as session:
        sample.build(session, households=12)
        ids = sample.add_households(session, sample.VILLAGE, 2000, seed=11,
                                    grades=["A1", "A2", "B1", "B2", "C1"], prefix="B")
        tokens = []
        for i, hid in enumerate(ids[:applicants]):
            user = User(username=f"bench_farmer_{i}", display_name=f"农户{i}", role="farmer",
                        region_code=sample.VILLAGE, subject_id=hid)
            session.add(user)
            session.flush()
            tokens.append((issue_token(session, user, "bench"), hid))
    engine.dispose()
    return tokens


BENCH_DB = "ctown_lending_bench"


def pg_database(admin_url: str, *, create: bool) -> str:
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


def start_server(url: str, var: Path, port: int, workers: int) -> list[subprocess.Popen[bytes]]:
    """``workers`` uvicorn processes sharing one listening socket.

    Made here rather than with ``uvicorn --workers``: uvicorn's own shared socket is created with
    protocol 0, so asyncio does not set TCP_NODELAY on accepted connections and every keep-alive
    response waits ~40 ms for a delayed ACK (Nagle). A socket opened with IPPROTO_TCP avoids it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.set_inheritable(True)
    env = {**os.environ, "CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(var),
           "CTOWN_SMS_BACKEND": "null"}
    procs = [subprocess.Popen([sys.executable, __file__, "--serve-fd", str(sock.fileno())],
                              env=env, cwd=ROOT, pass_fds=[sock.fileno()])
             for _ in range(workers)]
    sock.close()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                time.sleep(2 if workers > 1 else 0)  # let the other workers finish starting
                return procs
        except httpx.HTTPError:
            time.sleep(0.3)
    stop(procs)
    raise SystemExit("server did not start")


def serve_fd(fd: int) -> None:
    import uvicorn

    sock = socket.socket(fileno=fd)
    config = uvicorn.Config("ctown.app:create_app", factory=True, log_level="warning",
                            access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


class Conn:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams. httpx spends more CPU per request
    than the server does for /healthz, and on a 2-core box the load generator shares the CPU
    with the server, so the lightest possible client keeps the measurement about the server."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}",
                f"Content-Length: {len(body)}"]
        if body:
            head.append("Content-Type: application/json")
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next((int(x.split(":", 1)[1]) for x in lines[1:]
                       if x.lower().startswith("content-length:")), 0)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def run_load(base: str, make_request, total: int, concurrency: int,
                   max_seconds: float) -> dict[str, float]:
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))
    stop_at = time.perf_counter() + max_seconds

    async def worker(w: int) -> None:
        nonlocal errors
        conn = Conn(host, int(port))
        try:
            for i in counter:
                if time.perf_counter() > stop_at:
                    return
                method, path, body, headers = make_request(w, i)
                t0 = time.perf_counter()
                status = await conn.request(method, path, body, headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += status != 200
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - t0
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": round(q[49], 1),
            "p99_ms": round(q[98], 1), "max_ms": round(latencies[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-seconds", type=float, default=60)
    ap.add_argument("--database-url", default="",
                    help="empty database to use (default: SQLite in a temporary folder)")
    ap.add_argument("--pg-admin-url", default="",
                    help="PostgreSQL server URL: a throw-away database is created and dropped")
    ap.add_argument("--serve-fd", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_fd is not None:
        serve_fd(args.serve_fd)
        return
    with tempfile.TemporaryDirectory(prefix="ctown-bench-") as tmp:
        var = Path(tmp)
        url = args.database_url or f"sqlite:///{var / 'bench.sqlite3'}"
        if args.pg_admin_url:
            url = pg_database(args.pg_admin_url, create=True)
        t0 = time.perf_counter()
        tokens = prepare(url, args.concurrency)
        print(f"prepared database in {time.perf_counter() - t0:.1f}s ({url.split(':')[0]})",
              flush=True)
        port = free_port()
        servers = start_server(url, var, port, args.workers)
        base = f"http://127.0.0.1:{port}"
        try:
            def health(_w: int, _i: int):
                return "GET", "/healthz", b"", {}

            def decision(w: int, i: int):
                token, _hid = tokens[w % len(tokens)]
                body = {"product_code": "rcb_credit", "amount": str(10000 + (i % 50) * 1000),
                        "term_months": 12, "method": "equal_instalment"}
                return ("POST", "/api/v1/lending/decisions", json.dumps(body).encode(),
                        {"Authorization": f"Bearer {token}"})

            asyncio.run(run_load(base, decision, 200, 20, 30))  # warm-up
            baseline = asyncio.run(run_load(base, health, args.requests, args.concurrency,
                                            args.max_seconds))
            print(f"/healthz    p50 {baseline['p50_ms']} ms  p99 {baseline['p99_ms']} ms  "
                  f"{baseline['rps']} req/s  errors {baseline['errors']}", flush=True)
            result = asyncio.run(run_load(base, decision, args.requests, args.concurrency,
                                          args.max_seconds))
            print(f"/decisions  p50 {result['p50_ms']} ms  p99 {result['p99_ms']} ms  "
                  f"{result['rps']} req/s  errors {result['errors']}", flush=True)
            print(f"decision/healthz: p99 ×{result['p99_ms'] / baseline['p99_ms']:.2f}, "
                  f"throughput ×{result['rps'] / baseline['rps']:.2f}; "
                  f"target p99 < 200 ms: {'met' if result['p99_ms'] < 200 else 'NOT met'}")
        finally:
            stop(servers)
            if args.pg_admin_url:
                pg_database(args.pg_admin_url, create=False)
    print(json.dumps({"concurrency": args.concurrency, "workers": args.workers,
                      "decision": result, "healthz": baseline,
                      "p50_ms": result["p50_ms"], "p99_ms": result["p99_ms"],
                      "rps": result["rps"]}))


if __name__ == "__main__":
    main()
