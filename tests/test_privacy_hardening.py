"""Security headers, rate limits on failed logins and public endpoints, no secrets in logs."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient

from ctown.privacy import hardening
from ctown.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(clock: Clock, secure: bool = False) -> TestClient:
    app = FastAPI()

    @app.post("/login")
    def login(ok: bool = False) -> PlainTextResponse:
        return PlainTextResponse("ok" if ok else "no", status_code=303 if ok else 401)

    @app.get("/api/v1/ledger/checkpoint")
    def checkpoint() -> dict[str, int]:
        return {"size": 1}

    @app.get("/api/v1/other")
    def other() -> dict[str, int]:
        return {"x": 1}

    hardening.install(app, Settings(secure_cookies=secure),
                      hardening.RateLimiter(clock=clock))
    return TestClient(app)


def test_security_headers() -> None:
    client = make(Clock(), secure=True)
    r = client.get("/api/v1/other")
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert "max-age" in r.headers["strict-transport-security"]
    assert "strict-transport-security" not in make(Clock()).get("/api/v1/other").headers


def test_failed_logins_are_limited_successful_ones_are_not() -> None:
    clock = Clock()
    client = make(clock)
    for _ in range(30):
        assert client.post("/login", params={"ok": True}).status_code == 303
    codes = [client.post("/login").status_code for _ in range(22)]
    assert codes[:20] == [401] * 20 and codes[20:] == [429, 429]
    limited = client.post("/login", params={"ok": True})
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.headers["x-frame-options"] == "DENY"
    clock.now += 60
    assert client.post("/login", params={"ok": True}).status_code == 303


def test_public_endpoints_are_limited() -> None:
    clock = Clock()
    client = make(clock)
    codes = [client.get("/api/v1/ledger/checkpoint").status_code for _ in range(125)]
    assert codes.count(200) == 120 and codes[-1] == 429
    assert client.get("/api/v1/other").status_code == 200  # not a public endpoint
    clock.now += 2
    assert client.get("/api/v1/ledger/checkpoint").status_code == 200


def test_logs_never_carry_identifiers_or_secrets(caplog) -> None:  # type: ignore[no-untyped-def]
    hardening.install_log_redaction()
    logger = logging.getLogger("ctown.test")
    logger.addFilter(hardening.RedactingFilter())
    with caplog.at_level(logging.INFO, logger="ctown.test"):
        logger.info("lookup %s phone %s", "33052119500101001X", "13812345678")
        logger.info("Authorization: Bearer abc.def-123 password=hunter2&x=1")
    text = caplog.text
    for secret in ("33052119500101001X", "13812345678", "abc.def-123", "hunter2"):
        assert secret not in text
    assert "[RESIDENT-ID]" in text and "[PHONE]" in text and "[REDACTED]" in text
    assert hardening.redact("batch 20260101 rows 12345") == "batch 20260101 rows 12345"
