"""Security headers, rate limits on failed logins and public endpoints, no secrets in logs."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi.testclient import TestClient
from tests.browser import running_server

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


def test_the_servers_own_loggers_are_redacted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """In a fresh process set up as ``ctown serve`` sets it up — the app built first, then
    uvicorn's logging configured with the platform's loggers on its console — a record of
    ``ctown.lending.notices`` (propagated from a child logger, which no logger filter sees) and a
    traceback come out redacted. (In-process, pytest's own capture handlers would hide it.)"""
    import os
    import subprocess
    import sys

    script = f"""
import logging, logging.config
from ctown.app import create_app
from ctown.cli import server_logging
from ctown.settings import Settings
create_app(Settings(database_url="sqlite:///{tmp_path / 'x.sqlite3'}", var_dir="{tmp_path}"))
logging.config.dictConfig(server_logging())
log = logging.getLogger("ctown.lending.notices")
log.info("sms to %s for %s", "13812345678", "33052119500101001X")
try:
    raise ValueError("bad id 33052119500101001X")
except ValueError:
    log.exception("failed for 13812345678")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={**os.environ, "CTOWN_VAR_DIR": str(tmp_path)}, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "sms to [PHONE] for [RESIDENT-ID]" in output and "ValueError" in output
    assert "13812345678" not in output and "33052119500101001X" not in output


def test_a_real_server_logs_no_identifier(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``ctown serve`` in its own process: the access log of a search by phone number and by
    resident ID comes out redacted."""
    import contextlib
    import urllib.request

    from ctown.db import make_engine
    from ctown.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with running_server(url, tmp_path) as base:
        for q in ("13812345678", "33052119500101001X"):
            # Redirected to the login page: the request is in the access log all the same.
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}/households?q={q}", timeout=5)
    output = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert "/healthz" in output and "/households?q=" in output  # the access log ran
    assert "13812345678" not in output and "33052119500101001X" not in output
    assert "[PHONE]" in output and "[RESIDENT-ID]" in output


def test_bank_cards_are_redacted_only_when_they_are_card_numbers() -> None:
    # 6222 0212 3456 7890 128 is Luhn-valid (a 19-digit UnionPay-style number); change its last
    # digit and it is not a card number but, say, a batch id.
    assert hardening.luhn_valid("6222021234567890128")
    assert hardening.redact("card 6222021234567890128 paid") == "card [BANK-CARD] paid"
    assert hardening.redact("batch 6222021234567890127") == "batch 6222021234567890127"
    assert hardening.redact("t=1733212345.123456789012") == "t=1733212345.123456789012"


def test_a_real_server_writes_json_logs_without_personal_data(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``CTOWN_LOG_FORMAT=json``: every line ``ctown serve`` writes is one JSON object, the
    access log included, and none carries a phone number, resident ID or bank card."""
    import contextlib
    import json
    import urllib.request

    from ctown.db import make_engine
    from ctown.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    with running_server(url, tmp_path, CTOWN_LOG_FORMAT="json") as base:
        for q in ("13812345678", "33052119500101001X", "6222021234567890128"):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{base}/households?q={q}", timeout=5)
    output = (tmp_path / "server.log").read_text(encoding="utf-8")
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    access = [x["message"] for x in lines if x["logger"] == "uvicorn.access"]
    assert any("/households?q=[PHONE]" in m for m in access)
    assert any("[RESIDENT-ID]" in m for m in access) and any("[BANK-CARD]" in m for m in access)
    for secret in ("13812345678", "33052119500101001X", "6222021234567890128"):
        assert secret not in output
