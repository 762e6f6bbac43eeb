"""While the database cannot serve (数据库故障) — PostgreSQL restarting, the connection lost, a
SQLite lock not granted within the busy timeout — every request answers **503** with "try again
later" (a page in the reader's language, or both languages in JSON) and ``Retry-After``, not a
500 with a traceback. The request's transaction was rolled back, so nothing was half-saved; the
engine's ``pool_pre_ping`` replaces the dead pooled connections once the database is back, so
the server recovers by itself, without a restart.

Two places, one answer: an exception handler for what routes and their dependencies raise
(inside the middleware, so the answer carries the security headers), and an outer middleware
for what the middleware itself raises (the rate limiter asks the database for the login).
"""

from __future__ import annotations

import logging
import sqlite3

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctown.db import first_line, outage
from ctown.i18n import Message as Text
from ctown.i18n import _
from ctown.web.templating import render

log = logging.getLogger(__name__)
RETRY_AFTER = "5"  # seconds: a restarted PostgreSQL answers again within a few
UNAVAILABLE = _("数据库暂时无法访问，请稍后再试")


def wants_html(request: Request) -> bool:
    """A page (HTML) rather than the JSON API answers this request."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", "text/html"
    )


def answer(request: Request, exc: BaseException) -> Response:
    """The 503 of a request the database could not serve (logged without the SQL or values)."""
    log.warning("database unavailable for %s %s: %s", request.method, request.url.path, first_line(exc))
    headers = {"Retry-After": RETRY_AFTER}
    if wants_html(request):
        response: Response = render(request, "unavailable.html", status_code=503)
        response.headers.update(headers)
        return response
    return JSONResponse({"detail": Text(UNAVAILABLE).both()}, status_code=503, headers=headers)


async def _handler(request: Request, exc: Exception) -> Response:
    if not outage(exc):
        raise exc  # not an outage: the server's 500, as before
    return answer(request, exc)


class DatabaseOutage:
    """The net under the middleware: an outage raised before any answer began becomes the 503."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            if started or not outage(exc):
                raise
            await answer(Request(scope), exc)(scope, receive, send)


def install(app: FastAPI) -> None:
    """Called last by ``create_app``, so that the middleware is the outermost."""
    errors: list[type[Exception]] = [sa.exc.DBAPIError, sa.exc.TimeoutError, sqlite3.OperationalError]
    try:
        import psycopg

        errors.append(psycopg.Error)  # raised as is by the bulk paths (COPY)
    except ImportError:  # pragma: no cover - psycopg is a dependency
        pass
    for error in errors:
        app.add_exception_handler(error, _handler)
    app.add_middleware(DatabaseOutage)
