"""Hardening of the web application: security headers, rate limits, no secrets in logs.

``install(app, settings)`` is called by ``create_app``. Rate limits are token buckets per rule and
client address, kept in the database (:class:`DatabaseBuckets`) so that every worker process of the
server spends from the same bucket; login attempts and the public endpoints have their own
budgets, answered with 429 and ``Retry-After`` when spent. The client address is the connection's,
or — only when the connection comes from a configured trusted proxy (``CTOWN_TRUSTED_PROXIES``) —
the one ``X-Forwarded-For`` names (uvicorn's ``ProxyHeadersMiddleware``): behind a reverse proxy each
farmer has their own bucket, and nobody else can pick an address by sending the header.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from ctown.privacy.models import RateBucket

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ctown.settings import Settings

# Everything is served by the platform itself (no CDN): scripts, styles and images from 'self'.
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
       "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
       "form-action 'self'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(self), geolocation=()",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass(frozen=True)
class Limit:
    """``capacity`` requests, refilled at ``per_minute``, for requests matching the rule."""

    name: str
    matches: Callable[[Request], bool]
    capacity: int
    per_minute: float
    #: Count only answers of 400 and above (failed logins), so a busy village office where many
    #: people log in from one address is not locked out, while password guessing is.
    failures_only: bool = False


def _is_login(request: Request) -> bool:
    return request.method == "POST" and request.url.path in ("/login", "/api/v1/login",
                                                            "/api/v1/auth/token")


PUBLIC_PREFIXES = ("/api/v1/ledger/checkpoint", "/api/v1/ledger/key",
                   "/api/v1/channels/sms", "/api/v1/channels/voice")


def _is_public(request: Request) -> bool:
    return request.url.path.startswith(PUBLIC_PREFIXES)


DEFAULT_LIMITS = (
    Limit("login", _is_login, capacity=20, per_minute=10, failures_only=True),
    Limit("public", _is_public, capacity=120, per_minute=120),
)


class Buckets(Protocol):
    """Where the buckets live: ``take`` spends one token (or only refills, ``spend=False``) and
    answers 0 when the request may pass, else the seconds to wait."""

    def take(self, key: str, capacity: int, per_minute: float, spend: bool) -> float: ...


class MemoryBuckets:
    """Buckets of one process (a test app without a database). Thread-safe, bounded."""

    MAX_KEYS = 50_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, capacity: int, per_minute: float, spend: bool) -> float:
        now, rate = self.clock(), per_minute / 60.0
        with self._lock:
            if len(self._buckets) > self.MAX_KEYS:
                self._buckets.clear()
            tokens, last = self._buckets.get(key, (float(capacity), now))
            tokens = min(float(capacity), tokens + (now - last) * rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / rate
            self._buckets[key] = (tokens - 1 if spend else tokens, now)
            return 0.0


class DatabaseBuckets:
    """Buckets in the ``rate_buckets`` table, shared by all workers and servers of the county.

    One statement per check — an upsert that refills, decides and spends, and returns what it
    decided — so two workers taking from the same bucket at once cannot both spend its last token
    (the row is locked by the update on PostgreSQL, the database by the write on SQLite)."""

    PRUNE_EVERY = 1_000  # checks between deletions of buckets idle for a day

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine, self.clock = engine, clock
        self._checks = 0

    def take(self, key: str, capacity: int, per_minute: float, spend: bool) -> float:
        now, rate = self.clock(), per_minute / 60.0
        with self.engine.begin() as conn:
            tokens, ok = conn.execute(self._upsert(conn.dialect.name, key, capacity, rate,
                                                   spend, now)).one()
            self._checks += 1
            if self._checks % self.PRUNE_EVERY == 0:
                conn.execute(sa.delete(RateBucket).where(RateBucket.at < now - 86_400))
        return 0.0 if ok else (1 - tokens) / rate

    @staticmethod
    def _upsert(dialect: str, key: str, capacity: int, rate: float, spend: bool,
                now: float) -> sa.Executable:
        table = RateBucket.__table__
        least = sa.func.least if dialect == "postgresql" else sa.func.min  # SQLite's scalar min
        refilled = least(float(capacity), table.c.tokens + (now - table.c.at) * rate)
        ok = refilled >= 1
        cost = 1.0 if spend else 0.0
        insert = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table))
        return (insert.values(key=key, tokens=capacity - cost, at=now, ok=True)
                .on_conflict_do_update(index_elements=[table.c.key], set_={
                    "tokens": sa.case((ok, refilled - cost), else_=refilled),
                    "at": now, "ok": ok})
                .returning(table.c.tokens, table.c.ok))


class RateLimiter:
    """Token buckets keyed by (rule, client address)."""

    def __init__(self, limits: tuple[Limit, ...] = DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.monotonic,
                 buckets: Buckets | None = None) -> None:
        self.limits = limits
        self.buckets: Buckets = buckets or MemoryBuckets(clock)

    def check(self, request: Request) -> float:
        """0 when the request may pass, else the seconds to wait."""
        client = request.client.host if request.client else "-"
        for limit in self.limits:
            if limit.matches(request):
                wait = self.buckets.take(f"{limit.name}:{client}", limit.capacity,
                                         limit.per_minute, spend=not limit.failures_only)
                if wait:
                    return wait
        return 0.0

    def record(self, request: Request, status: int) -> None:
        """After the answer: failed attempts spend from the failure-only budgets."""
        if status < 400:
            return
        client = request.client.host if request.client else "-"
        for limit in self.limits:
            if limit.failures_only and limit.matches(request):
                self.buckets.take(f"{limit.name}:{client}", limit.capacity, limit.per_minute,
                                  spend=True)

    def matches(self, request: Request) -> bool:
        return any(limit.matches(request) for limit in self.limits)


# -- secrets out of logs ---------------------------------------------------------------------
_REDACTIONS = [
    (re.compile(r"(?i)(authorization:?\s*bearer\s+)[\w.\-~+/=]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)\b(password|passwd|token|secret|csrf_token)=([^&\s]+)"), r"\1=[REDACTED]"),
    (re.compile(r"\b\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx]\b"), "[RESIDENT-ID]"),
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), "[PHONE]"),
]


#: Bank card numbers (银行卡号, 16–19 digits) — only those with a valid Luhn check digit, so that
#: batch numbers and timestamps of that length stay readable.
_CARD = re.compile(r"(?<![\d.])\d{16,19}(?![\d.])")


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return _CARD.sub(lambda m: "[BANK-CARD]" if luhn_valid(m.group()) else m.group(), text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``CTOWN_LOG_FORMAT=json``) for a county's log collector: time
    (UTC, ISO 8601), level, logger, message and the traceback — all already redacted by the
    record factory; no other attribute of the record (arguments, paths) is written. A dozen
    lines, so no dependency (python-json-logger) for it."""

    def format(self, record: logging.LogRecord) -> str:
        import datetime as dt
        import json

        body: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname, "logger": record.name,
            "message": redact(record.getMessage())}
        if record.exc_text:
            body["exception"] = record.exc_text
        elif record.exc_info:
            body["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(body, ensure_ascii=False)


class RedactingFilter(logging.Filter):
    """Rewrites a log record so resident IDs, phone numbers, tokens and passwords never reach a
    log file (for a handler of one's own; the process-wide guard is the record factory below)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _clean(record)
        return True


def _clean(record: logging.LogRecord) -> None:
    message = record.getMessage()
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        # A traceback carries values too (an exception's message): format it now, redacted;
        # handlers print ``exc_text`` as it is.
        record.exc_text = redact(_TRACEBACKS.formatException(record.exc_info))


_TRACEBACKS = logging.Formatter()


def install_log_redaction() -> None:
    """Redact every record the process creates, from any logger, whatever handlers are set up
    later (uvicorn configures its own after the app is built): a logger's filter does not see the
    records its children propagate, a record factory sees them all. Installed once."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "ctown_redacting", False):
        return

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _clean(record)
        return record

    setattr(factory, "ctown_redacting", True)  # noqa: B010 - a marker, so it is installed once
    logging.setLogRecordFactory(factory)


class BodyLimit:
    """Refuses a request body beyond ``max_bytes`` with 413 (#12 item 4): by its declared length
    before reading anything, and — for a body sent without one (chunked) — as soon as what
    arrived passes the limit, so a hostile client cannot make the server buffer gigabytes."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen, over = 0, False

        async def counted() -> Message:
            # Past the limit the app is handed the end of the body (it stops reading), and its
            # answer — to a truncated body — is replaced by the 413 below.
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def answer(message: Message) -> None:
            if not over:
                await send(message)
            elif message["type"] == "http.response.start":
                await self._refuse(scope, receive, send)

        await self.app(scope, counted, answer)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.max_bytes >> 20
        response = JSONResponse({"detail": {
            "zh": f"请求内容超过 {limit} MB 上限：请拆分后分批报送",
            "en": f"the request body is over the {limit} MB limit: split it into smaller batches"}},
            status_code=413)
        await response(scope, receive, send)


def install(app: FastAPI, settings: Settings, limiter: RateLimiter | None = None) -> None:
    """Security headers on every answer, rate limits, log redaction; the client address from
    trusted proxies only."""
    engine = getattr(app.state, "engine", None)
    limiter = limiter or RateLimiter(buckets=DatabaseBuckets(engine) if engine else None)
    app.state.rate_limiter = limiter
    headers = dict(HEADERS)
    if settings.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    install_log_redaction()

    @app.middleware("http")
    async def harden(request: Request,
                     call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        # The database is asked only for the limited routes, in a worker thread (it blocks).
        wait = await run_in_threadpool(limiter.check, request) if limiter.matches(request) else 0
        if wait:
            response: Response = JSONResponse(
                {"detail": {"zh": "请求过于频繁，请稍后再试", "en": "Too many requests"}},
                status_code=429, headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        else:
            response = await call_next(request)
            if response.status_code >= 400 and limiter.matches(request):
                await run_in_threadpool(limiter.record, request, response.status_code)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    app.add_middleware(BodyLimit, max_bytes=settings.max_body_mb << 20)
    # Added last, so outermost: every middleware and handler (and the access log) sees the client
    # that the trusted proxy names. Without trusted proxies the header is ignored.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxy_list)
