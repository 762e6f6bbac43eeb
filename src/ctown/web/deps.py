"""Request dependencies shared by every router: database session, current user, roles, CSRF."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ctown.access.scope import require
from ctown.accounts import sessions
from ctown.accounts.models import AccessLog, User
from ctown.accounts.service import user_for_token
from ctown.i18n import Message, _, normalise_locale
from ctown.settings import Settings


class LoginRequired(Exception):
    """No valid session or token: pages redirect to the login form, the API answers 401."""


class PasswordChangeRequired(Exception):
    """Signed in with a password someone else chose: pages go to the change-password page, the
    API answers 403, until the user has set their own."""

    message = Message(_("请先设置您自己的密码：打开 /account/password，或在 POST /api/v1/auth/token "
                        "中提供 new_password"))


#: The pages a user who must change their password may still open.
PASSWORD_CHANGE_PATHS = ("/account/password",)
#: The cookie's key holding the session id (the rest of the cookie is the CSRF value).
SESSION_ID = "sid"


class CsrfFailed(Exception):
    pass


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request, committed at the end; rolled back when the handler fails.

    Declared through ``DB_SESSION`` everywhere (``scope="function"``): the commit happens before
    the answer is sent (FastAPI's default ends ``yield`` dependencies *after* it), so the page a
    redirect leads to reads the write, and a failed commit is an error, not a vanished success.

    Denied accesses are logged even then: they are written again in a transaction of their own.
    """
    session: Session = request.app.state.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        keep_denied_log(session)
        raise
    finally:
        session.close()


#: The request's session, committed before the answer is sent (:func:`get_db`).
DB_SESSION: Any = Depends(get_db, scope="function")


def keep_denied_log(session: Session) -> None:
    """After a rollback: write again the denied accesses the failed request logged."""
    pending = list(session.info.pop("denied", []))
    if pending:
        session.add_all([AccessLog(user_id=e.user_id, username=e.username, event=e.event,
                                   detail=e.detail, client=e.client) for e in pending])
        session.commit()


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _sep, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def optional_user(request: Request, db: Session = DB_SESSION) -> User | None:
    """The user of a bearer token in force (a bad one: 401), else of the cookie's server-side
    session (``accounts.sessions``: ended, timed out or disabled is nobody), else None."""
    token = _bearer(request)
    if token:
        user = user_for_token(db, token)
        if user is None:
            raise LoginRequired()
        request.state.auth = "token"
        return user
    sid = request.session.get(SESSION_ID) if "session" in request.scope else None
    if not sid:
        return None
    found = sessions.resolve(db, str(sid), sessions.Timeouts.of(get_settings(request)))
    if found is None:
        request.session.pop(SESSION_ID, None)
        return None
    row, user = found
    request.state.auth = "cookie"
    request.state.session_id = row.id
    if user.must_change_password and request.url.path not in PASSWORD_CHANGE_PATHS:
        raise PasswordChangeRequired()
    return user


def sign_in(request: Request, db: Session, user: User) -> None:
    """Start a server-side session for a login: a new id in a fresh cookie (no fixation); the
    session the cookie held before, if any, ends."""
    sign_out(request, db, "login")
    sid, _row = sessions.start(db, user, client=client_of(request),
                               agent=request.headers.get("user-agent"))
    request.session[SESSION_ID] = sid


def sign_out(request: Request, db: Session, reason: str = "logout") -> None:
    """End the cookie's session for good (a copy of the cookie signs nobody in) and clear it."""
    sid = request.session.get(SESSION_ID) if "session" in request.scope else None
    if sid:
        sessions.end_by_id(db, str(sid), reason)
    request.session.clear()


def session_id_of(request: Request) -> int | None:
    """The id of the session row the request came with (None: a token, or nobody)."""
    value = getattr(request.state, "session_id", None)
    return value if isinstance(value, int) else None


def current_user(user: User | None = Depends(optional_user)) -> User:
    if user is None:
        raise LoginRequired()
    return user


def allowed(resource: str, purpose: str = "view") -> Callable[..., User]:
    """The signed-in user, refused (403) when their role reaches nothing of the resource for the
    purpose in the one table (:mod:`ctown.access.policy`). Rows are still scoped by the service."""

    def dependency(user: User = Depends(current_user)) -> User:
        require(user, resource, purpose)
        return user

    return dependency


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


def locale_of(request: Request) -> str:
    return normalise_locale(request.query_params.get("lang") or request.cookies.get("lang"))


# -- CSRF: a per-session random token, sent back in a hidden field or the X-CSRF-Token header ----

def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


async def verify_csrf(request: Request) -> None:
    """Required on every state-changing request authenticated by cookie (tokens are exempt)."""
    if _bearer(request):
        return
    expected = request.session.get("csrf") if "session" in request.scope else None
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise CsrfFailed()


#: Parameter types for handlers: ``def page(db: DB, user: Me)``.
DB = Annotated[Session, DB_SESSION]
Me = Annotated[User, Depends(current_user)]
