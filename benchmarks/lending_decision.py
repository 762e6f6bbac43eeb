"""Load benchmark of the instant decision (POST /api/v1/lending/decisions) against the running server.

Prepares its own demo-like database (SQLite in a temporary folder: a county with 2,000 graded
households and 100 farmer accounts with API tokens), starts uvicorn on 127.0.0.1 and measures
``/healthz`` (the baseline) and the decision under two load models, loopback only:

(a) closed loop, saturation: 100 clients send back-to-back (no think time) — the most the box
    serves; latency there is concurrency ÷ throughput (Little's law), not the applicant's wait.
(b) 100 applicants as people: each submits an application, waits for the answer, then thinks
    for an exponential time (mean ``--think`` = 2 s) before the next one, for ``--duration``
    seconds. Exponential think times make the arrivals of many independent people a Poisson
    stream (no synchronised bursts); 2 s is far *shorter* than a person filling the three-minute
    form, so 100 people here offer ~50 applications/s — a stress level of the requirement
    "100 concurrent applicants", not a saturation test.

Also prints the server's CPU per request (utime + stime of the worker processes, threads
included, from /proc) for each phase. Last line: one JSON object, ``p50_ms``/``p99_ms``/``rps``
at top level for model (b), both models nested in full.

    .venv/bin/python benchmarks/lending_decision.py [--requests 3000] [--concurrency 100]
        [--think 2] [--duration 45] [--workers 2] [--pg-admin-url URL]
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

    #: uvicorn closes a keep-alive connection idle for 5 s (``timeout_keep_alive``); a person
    #: who thought longer than that reconnects, as a browser would (the time counts).
    IDLE_S = 4.0

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> int:
        if self.writer is not None and time.monotonic() - self.last_used > self.IDLE_S:
            await self.close()
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
        self.last_used = time.monotonic()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


def summarise(latencies: list[float], errors: int, elapsed: float) -> dict[str, float]:
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "rps": round(len(latencies) / elapsed, 1), "p50_ms": round(q[49], 1),
            "p95_ms": round(q[94], 1), "p99_ms": round(q[98], 1),
            "max_ms": round(latencies[-1], 1)}


async def run_load(base: str, make_request, total: int, concurrency: int,
                   max_seconds: float) -> dict[str, float]:
    """Model (a): ``concurrency`` clients, each sending its next request as soon as the answer
    arrives, until ``total`` requests or ``max_seconds``."""
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
    return summarise(latencies, errors, time.perf_counter() - t0)


async def run_people(base: str, make_request, people: int, think: float, duration: float,
                     seed: int = 7) -> dict[str, float]:
    """Model (b): ``people`` applicants, each: think (exponential, mean ``think`` s; also before
    the first request, so they do not all start at once), send, wait for the answer, repeat —
    for ``duration`` seconds. Requests still waiting at the end are counted."""
    host, port = base.split("//", 1)[1].rsplit(":", 1)
    latencies: list[float] = []
    errors = 0
    rng = random.Random(seed)
    stop_at = time.perf_counter() + duration

    async def person(w: int) -> None:
        nonlocal errors
        conn = Conn(host, int(port))
        i = 0
        try:
            while True:
                pause = rng.expovariate(1 / think)
                if time.perf_counter() + pause > stop_at:
                    return
                await asyncio.sleep(pause)
                method, path, body, headers = make_request(w, w * 100_000 + i)
                t0 = time.perf_counter()
                status = await conn.request(method, path, body, headers)
                latencies.append((time.perf_counter() - t0) * 1000)
                errors += status != 200
                i += 1
        finally:
            await conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(person(w) for w in range(people)))
    return summarise(latencies, errors, time.perf_counter() - t0)


def cpu_seconds(procs: list[subprocess.Popen[bytes]]) -> float:
    """CPU time (user + system, all threads) used so far by the server processes."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in procs:
        with open(f"/proc/{p.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def measured(procs: list[subprocess.Popen[bytes]], label: str, load) -> dict[str, float]:
    c0 = cpu_seconds(procs)
    result = asyncio.run(load)
    cpu = cpu_seconds(procs) - c0
    result["server_cpu_ms_per_request"] = round(cpu * 1000 / max(result["requests"], 1), 2)
    result["server_cpu_share"] = round(cpu / result["seconds"], 2)  # of one core
    print(f"{label:<34} p50 {result['p50_ms']:>7} ms  p95 {result['p95_ms']:>7} ms  "
          f"p99 {result['p99_ms']:>7} ms  {result['rps']:>6} req/s  "
          f"server CPU {result['server_cpu_ms_per_request']} ms/req  "
          f"errors {result['errors']}", flush=True)
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000, help="model (a): requests per phase")
    ap.add_argument("--concurrency", type=int, default=100, help="clients (a) / applicants (b)")
    ap.add_argument("--think", type=float, default=2.0, help="model (b): mean think time, s")
    ap.add_argument("--duration", type=float, default=45, help="model (b): seconds per phase")
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
    n = args.concurrency
    with tempfile.TemporaryDirectory(prefix="ctown-bench-") as tmp:
        var = Path(tmp)
        url = args.database_url or f"sqlite:///{var / 'bench.sqlite3'}"
        if args.pg_admin_url:
            url = pg_database(args.pg_admin_url, create=True)
        t0 = time.perf_counter()
        tokens = prepare(url, n)
        print(f"prepared database in {time.perf_counter() - t0:.1f}s ({url.split(':')[0]}), "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
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
            print(f"(a) closed loop: {n} clients back-to-back, {args.requests} requests",
                  flush=True)
            closed = {
                "healthz": measured(servers, "    /healthz", run_load(
                    base, health, args.requests, n, args.max_seconds)),
                "decision": measured(servers, "    /decisions", run_load(
                    base, decision, args.requests, n, args.max_seconds))}
            print(f"(b) {n} applicants, exponential think time mean {args.think} s, "
                  f"{args.duration:.0f} s per phase", flush=True)
            people = {
                "healthz": measured(servers, "    /healthz", run_people(
                    base, health, n, args.think, args.duration)),
                "decision": measured(servers, "    /decisions", run_people(
                    base, decision, n, args.think, args.duration))}
        finally:
            stop(servers)
            if args.pg_admin_url:
                pg_database(args.pg_admin_url, create=False)
    for name, model in (("(a) closed loop", closed), ("(b) applicants", people)):
        d, h = model["decision"], model["healthz"]
        cpu_ratio = d["server_cpu_ms_per_request"] / max(h["server_cpu_ms_per_request"], 0.01)
        print(f"{name}: decision/healthz p99 ×{d['p99_ms'] / h['p99_ms']:.2f}, "
              f"CPU/request ×{cpu_ratio:.1f}; "
              f"target p99 < 200 ms: {'met' if d['p99_ms'] < 200 else 'NOT met'}")
    print(json.dumps({
        "concurrency": n, "workers": args.workers, "database": url.split(":")[0],
        "model": "applicants", "think_mean_s": args.think, "duration_s": args.duration,
        "p50_ms": people["decision"]["p50_ms"], "p95_ms": people["decision"]["p95_ms"],
        "p99_ms": people["decision"]["p99_ms"], "rps": people["decision"]["rps"],
        "decision": people["decision"], "healthz": people["healthz"],
        "models": {"closed_loop": {"clients": n, **closed},
                   "applicants": {"people": n, "think_mean_s": args.think,
                                  "duration_s": args.duration, **people}}}))


if __name__ == "__main__":
    main()
