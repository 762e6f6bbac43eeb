"""The web application: ``create_app(settings)`` composes the routers of every capability."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import pass_context
from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctown import __version__
from ctown.accounts.roles import Role
from ctown.capabilities import CAPABILITIES, optional_module
from ctown.db import make_engine, session_factory
from ctown.errors import DomainError
from ctown.i18n import normalise_locale, translate
from ctown.privacy.crypto import FieldCipher
from ctown.settings import Settings, get_settings
from ctown.web.deps import CsrfFailed, LoginRequired, locale_of
from ctown.web.templating import environment, render

STATIC = Path(__file__).parent / "web" / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="ctown 信用乡平台", version=__version__, openapi_url="/openapi.json",
                  docs_url="/docs", redoc_url=None, lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = make_engine(settings.sqlalchemy_url)
    app.state.session_factory = session_factory(app.state.engine)
    app.state.cipher = FieldCipher.from_settings(settings)
    _mount_capabilities(app)
    _install_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key.hex(),
                       session_cookie="ctown_session", same_site="lax",
                       https_only=settings.secure_cookies, max_age=8 * 3600)
    app.add_middleware(RememberLanguage)
    hardening = optional_module("privacy", "hardening")
    if hardening is not None:
        hardening.install(app, settings)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.engine.dispose()  # close pooled connections when the server (or a test) stops


def _mount_capabilities(app: FastAPI) -> None:
    nav: list[dict[str, Any]] = []
    subject_links: list[dict[str, Any]] = []
    app.get("/healthz", include_in_schema=False)(_healthz)
    for cap in ("accounts", *[c for c in CAPABILITIES if c != "accounts"]):
        api = optional_module(cap, "api")
        if api is not None and hasattr(api, "router"):
            app.include_router(api.router, prefix="/api/v1")
        views = optional_module(cap, "views")
        if views is not None and hasattr(views, "router"):
            app.include_router(views.router, include_in_schema=False)
            nav.extend(getattr(views, "NAV", []))
            subject_links.extend(getattr(views, "SUBJECT_LINKS", []))
    env = environment()
    env.globals["nav_links"] = lambda user: [
        n for n in nav if not n.get("roles") or Role(user.role) in set(n["roles"])]

    @pass_context
    def links_for(context: Any, subject: Any) -> list[dict[str, str]]:
        user = context.get("current_user")
        role = Role(user.role) if user is not None else None
        return [{"href": link["href"].format(id=subject.id), "label": link["label"]}
                for link in subject_links
                if subject.kind in link.get("kinds", (subject.kind,))
                and (not link.get("roles") or role in set(link["roles"]))]

    env.globals["subject_links"] = links_for


def _healthz(request: Request) -> Response:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__})


def _wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", "text/html")


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"detail": {"zh": "需要登录", "en": "login required"}},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        msg = translate("表单已过期，请刷新页面后重试", locale_of(request))
        return JSONResponse({"detail": msg}, status_code=403)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if _wants_html(request):
            return render(request, "error.html", status_code=exc.status_code,
                          message=exc.message.render(locale_of(request)), message_kind="error")
        return JSONResponse({"detail": exc.message.both()}, status_code=exc.status_code)


class RememberLanguage:
    """``?lang=en`` switches the language and keeps it in a cookie.

    Plain ASGI rather than ``BaseHTTPMiddleware``, which costs a task and a copy per request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lang = None
        if scope["type"] == "http" and b"lang=" in scope.get("query_string", b""):
            lang = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("lang")
        if not lang:
            await self.app(scope, receive, send)
            return
        cookie = f"lang={normalise_locale(lang)}; Max-Age={365 * 86400}; Path=/; SameSite=lax"

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)
