"""Hardening of the web application: security headers, rate limits, no secrets in logs.

``install(app, settings)`` is called by ``create_app``. Rate limits are per client address and
kept in memory (one process serves a county); login attempts and the public endpoints have
their own budgets, answered with 429 and ``Retry-After`` when spent.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

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


PUBLIC_PREFIXES = ("/api/v1/ledger/checkpoint", "/api/v1/ledger/key", "/api/v1/sms",
                   "/api/v1/voice")


def _is_public(request: Request) -> bool:
    return request.url.path.startswith(PUBLIC_PREFIXES)


DEFAULT_LIMITS = (
    Limit("login", _is_login, capacity=20, per_minute=10, failures_only=True),
    Limit("public", _is_public, capacity=120, per_minute=120),
)


class RateLimiter:
    """Token buckets keyed by (rule, client); thread-safe, bounded in memory."""

    MAX_KEYS = 50_000

    def __init__(self, limits: tuple[Limit, ...] = DEFAULT_LIMITS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, request: Request) -> float:
        """0 when the request may pass, else the seconds to wait."""
        client = request.client.host if request.client else "-"
        for limit in self.limits:
            if limit.matches(request):
                wait = self._take((limit.name, client), limit, spend=not limit.failures_only)
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
                self._take((limit.name, client), limit, spend=True)

    def _take(self, key: tuple[str, str], limit: Limit, spend: bool = True) -> float:
        now, rate = self.clock(), limit.per_minute / 60.0
        with self._lock:
            if len(self._buckets) > self.MAX_KEYS:
                self._buckets.clear()
            tokens, last = self._buckets.get(key, (float(limit.capacity), now))
            tokens = min(float(limit.capacity), tokens + (now - last) * rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / rate
            self._buckets[key] = (tokens - 1 if spend else tokens, now)
            return 0.0


# -- secrets out of logs ---------------------------------------------------------------------
_REDACTIONS = [
    (re.compile(r"(?i)(authorization:?\s*bearer\s+)[\w.\-~+/=]+"), r"\1[REDACTED]"),
    (re.compile(r"(?i)\b(password|passwd|token|secret|csrf_token)=([^&\s]+)"), r"\1=[REDACTED]"),
    (re.compile(r"\b\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])\d{2}\d{3}[\dXx]\b"), "[RESIDENT-ID]"),
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), "[PHONE]"),
]


def redact(text: str) -> str:
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


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


def install(app: FastAPI, settings: Settings, limiter: RateLimiter | None = None) -> None:
    """Security headers on every answer, rate limits, log redaction."""
    limiter = limiter or RateLimiter()
    app.state.rate_limiter = limiter
    headers = dict(HEADERS)
    if settings.secure_cookies:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    install_log_redaction()

    @app.middleware("http")
    async def harden(request: Request,
                     call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        wait = limiter.check(request)
        if wait:
            response: Response = JSONResponse(
                {"detail": {"zh": "请求过于频繁，请稍后再试", "en": "Too many requests"}},
                status_code=429, headers={"Retry-After": str(max(1, int(wait + 0.999)))})
        else:
            response = await call_next(request)
            limiter.record(request, response.status_code)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response
