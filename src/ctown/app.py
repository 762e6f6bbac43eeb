"""The web application: ``create_app(settings)`` composes every capability's routers, menu entries
and subject links from its declaration (:mod:`ctown.capabilities`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import pass_context
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctown import __version__
from ctown.access.scope import allowed
from ctown.accounts.roles import Role
from ctown.capabilities import Capability, NavEntry, SubjectLink, capabilities
from ctown.db import make_engine, session_factory
from ctown.errors import DomainError, Invalid
from ctown.i18n import Message as Text
from ctown.i18n import _, normalise_locale
from ctown.privacy.keyring import open_cipher
from ctown.settings import Settings, get_settings
from ctown.web.deps import CsrfFailed, LoginRequired, PasswordChangeRequired, locale_of
from ctown.web.outage import install as install_outage
from ctown.web.outage import wants_html as _wants_html
from ctown.web.problems import API_ERRORS
from ctown.web.templating import environment, render

STATIC = Path(__file__).parent / "web" / "static"
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    app = FastAPI(title="ctown 信用乡平台", version=__version__, openapi_url="/openapi.json",
                  docs_url="/docs", redoc_url=None, lifespan=_lifespan)
    app.state.settings = settings
    app.state.engine = make_engine(settings.sqlalchemy_url)
    app.state.session_factory = session_factory(app.state.engine)
    app.state.cipher = open_cipher(settings, app.state.engine)
    caps = capabilities()
    _mount_capabilities(app, caps)
    _install_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key.hex(),
                       session_cookie="ctown_session", same_site="lax",
                       https_only=settings.secure_cookies,
                       max_age=settings.session_absolute_hours * 3600)
    app.add_middleware(RememberLanguage)
    for cap in caps:  # privacy's hardening: security headers, rate limits, log redaction
        install = cap.installer()
        if install is not None:
            install(app, settings)
    install_outage(app)  # last: its middleware is the net under the installers' middleware too
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.engine.dispose()  # close pooled connections when the server (or a test) stops


def _mount_capabilities(app: FastAPI, caps: list[Capability]) -> None:
    nav: list[NavEntry] = []
    subject_links: list[SubjectLink] = []
    app.get("/healthz", include_in_schema=False)(_healthz)
    for cap in caps:
        api = cap.api_router()
        if api is not None:
            app.include_router(api, prefix="/api/v1", responses=API_ERRORS)
        pages = cap.page_router()
        if pages is not None:
            app.include_router(pages, include_in_schema=False)
        nav.extend(cap.navigation())
        subject_links.extend(cap.links())
    # Kept on the app, not in the (shared, cached) template environment: two apps in one process
    # (tests) each show their own menu.
    app.state.nav, app.state.subject_links = nav, subject_links
    env = environment()
    env.globals["nav_links"] = _nav_links
    env.globals["subject_links"] = _subject_links


def shows(entry: NavEntry, user: Any) -> bool:
    """Is a menu entry or subject link for this user? Asked of the policy table when the entry
    names a resource (``access.scope.allowed``), else of its roles (none: everyone signed in)."""
    if "resource" in entry:
        return user is not None and allowed(user, entry["resource"], entry.get("purpose", "view"))
    roles = entry.get("roles")
    if not roles:
        return True
    return user is not None and Role(user.role) in {Role(r) for r in roles}


@pass_context
def _nav_links(context: Any, user: Any) -> list[NavEntry]:
    nav: list[NavEntry] = context["request"].app.state.nav
    return [n for n in nav if shows(n, user)]


@pass_context
def _subject_links(context: Any, subject: Any) -> list[dict[str, str]]:
    user = context.get("current_user")
    links: list[SubjectLink] = context["request"].app.state.subject_links
    return [{"href": link["href"].format(id=subject.id), "label": link["label"]}
            for link in links
            if subject.kind in link.get("kinds", (subject.kind,)) and shows(link, user)]


def _healthz(request: Request) -> Response:
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "version": __version__})


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, _exc: LoginRequired) -> Response:
        if _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return JSONResponse({"detail": {"zh": "需要登录", "en": "login required"}},
                            status_code=401, headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(PasswordChangeRequired)
    async def password_change_required(request: Request, exc: PasswordChangeRequired
                                       ) -> Response:
        if _wants_html(request):
            return RedirectResponse(f"/account/password?next={request.url.path}",
                                    status_code=303)
        return JSONResponse({"detail": exc.message.both()}, status_code=403)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        # Both languages, as every other refusal (web.problems.Problem): API clients read either.
        return JSONResponse({"detail": Text(_("表单已过期，请刷新页面后重试")).both()},
                            status_code=403)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI's 400 for a body it cannot parse at all (not UTF-8, say) is an English string;
        # the API answers it in both languages like every other refusal (web.problems.Problem).
        if exc.status_code == 400 and request.url.path.startswith("/api/"):
            return JSONResponse({"detail": Text(_("请求内容无法解析：请发送 UTF-8 编码的 JSON")).both()},
                                status_code=400)
        return await http_exception_handler(request, exc)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> Response:
        if _wants_html(request):
            return render(request, "error.html", status_code=exc.status_code,
                          message=exc.message.render(locale_of(request)), message_kind="error")
        return JSONResponse({"detail": exc.message.both()}, status_code=exc.status_code)

    @app.exception_handler(sa.exc.DataError)
    async def unstorable_value(request: Request, exc: sa.exc.DataError) -> Response:
        # A value of the request the database will not store or compare — a NUL character in
        # text, a number past its column on PostgreSQL — is invalid input, not a server error.
        # Services guard the ids they look up (db.storable_int: not found); this is the net under
        # the rest. The value is not logged: it may be personal data.
        log.warning("database refused a value of %s %s (%s)", request.method, request.url.path,
                    type(exc.orig).__name__)
        return await domain_error(request, Invalid(Text(_(
            "请求中有数据库无法保存的值（如 NUL 字符、超出范围的数字）：请检查输入"))))


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
