"""Rate limits on the real login routes, shared by every worker through the database, keyed by the
client address that a trusted proxy names (#12 item 9)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from tests.webutil import csrf_from

from ctown.app import create_app
from ctown.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _worker(url: str, var: Path, clock: Clock, trusted: str = "") -> TestClient:
    """One server process's app: its own engine and limiter object, the same database."""
    app = create_app(Settings(database_url=url, var_dir=var, trusted_proxies=trusted))
    app.state.rate_limiter.buckets.clock = clock
    return TestClient(app, follow_redirects=False)


def _fail_token(client: TestClient, forwarded: str | None = None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return client.post("/api/v1/auth/token", json={"username": "nobody", "password": "wrong"},
                       headers=headers).status_code


def _fail_page(client: TestClient) -> int:
    token = csrf_from(client.get("/login").text)
    return client.post("/login", data={"username": "nobody", "password": "wrong",
                                       "csrf_token": token}).status_code


def test_two_workers_spend_from_one_bucket(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, clock = db_factory.migrated_url(), Clock()
    with _worker(url, tmp_path, clock) as one, _worker(url, tmp_path, clock) as two:
        # 20 failed attempts in all, alternating between the two workers and the two routes.
        codes = [(_fail_token if i % 3 else _fail_page)(one if i % 2 else two)
                 for i in range(20)]
        assert codes == [401] * 20
        # The budget is spent for the client on both workers, on both routes.
        assert _fail_token(one) == 429 and _fail_token(two) == 429
        token = csrf_from(two.get("/login").text)
        limited = two.post("/login", data={"username": "admin", "password": "x",
                                           "csrf_token": token})
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        # The budget refills at 10 a minute: six seconds give one more attempt, and only one.
        clock.now += 6.1
        assert _fail_token(one) == 401
        assert _fail_token(two) == 429


def test_forwarded_for_counts_only_from_a_trusted_proxy(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url, clock = db_factory.migrated_url(), Clock()
    # TestClient connects as "testclient": as the reverse proxy in front of the server.
    with _worker(url, tmp_path, clock, trusted="testclient") as proxied:
        assert [_fail_token(proxied, "10.0.0.7") for _ in range(20)] == [401] * 20
        assert _fail_token(proxied, "10.0.0.7") == 429
        # Another farmer behind the same proxy has a bucket of their own.
        assert _fail_token(proxied, "10.0.0.8") == 401
    with _worker(url, tmp_path, clock) as direct:
        # Not a trusted proxy: the header is ignored, so it cannot buy a fresh bucket.
        assert [_fail_token(direct, f"10.9.0.{i}") for i in range(20)] == [401] * 20
        assert _fail_token(direct, "10.9.0.99") == 429
