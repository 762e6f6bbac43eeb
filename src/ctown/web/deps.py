"""Request dependencies shared by every router: database session, current user, roles, CSRF."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from ctown.access.scope import require
from ctown.accounts.models import AccessLog, User
from ctown.accounts.service import user_for_token
from ctown.i18n import normalise_locale
from ctown.settings import Settings


class LoginRequired(Exception):
    """No valid session or token: pages redirect to the login form, the API answers 401."""


class CsrfFailed(Exception):
    pass


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    """One transaction per request, committed at the end; rolled back when the handler fails.

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


def optional_user(request: Request, db: Session = Depends(get_db)) -> User | None:
    token = _bearer(request)
    if token:
        user = user_for_token(db, token)
        if user is None:
            raise LoginRequired()
        request.state.auth = "token"
        return user
    uid = request.session.get("uid") if "session" in request.scope else None
    if uid is None:
        return None
    user = db.get(User, uid)
    if user is None or not user.is_active:
        request.session.clear()
        return None
    request.state.auth = "cookie"
    return user


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
DB = Annotated[Session, Depends(get_db)]
Me = Annotated[User, Depends(current_user)]
