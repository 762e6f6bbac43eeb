"""Pages: login and logout, one's own account (/account: password, sessions, tokens) and the
administration of users (/admin/users, 用户管理)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ctown.access.scope import allowed as may
from ctown.accounts import users
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.accounts.service import LoginRefused, authenticate, tokens_of
from ctown.accounts.sessions import Timeouts, open_sessions
from ctown.errors import DomainError, Invalid
from ctown.i18n import Message, _
from ctown.web.deps import (
    DB_SESSION,
    Me,
    allowed,
    client_of,
    get_settings,
    locale_of,
    session_id_of,
    sign_in,
    sign_out,
    verify_csrf,
)
from ctown.web.templating import render

router = APIRouter()
NAV = [
    {"href": "/admin/users", "label": _("用户管理"), "resource": "user", "purpose": "view"},
    {"href": "/account", "label": _("我的账号")},
]
Db = Annotated[Session, DB_SESSION]
# Feature gates from the one table; which users one reaches is the service's (users.py).
Viewer = Annotated[User, Depends(allowed("user", "view"))]
Manager = Annotated[User, Depends(allowed("user", "manage"))]
Csrf = [Depends(verify_csrf)]
#: Flash messages after a redirect (``?done=``).
DONE = {"password": _("密码已修改"), "ended": _("会话已结束"), "revoked": _("令牌已吊销"),
        "changed": _("已保存"), "disabled": _("已停用，其会话已结束、令牌已吊销"),
        "enabled": _("已启用")}


def _safe_next(target: str) -> str:
    # Only local paths: an open redirect after login is a phishing aid.
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc and target.startswith("/") else "/"


def _done(request: Request, key: str) -> str | None:
    return _tr(request, DONE[key]) if key in DONE else None


def _tr(request: Request, msgid: str) -> str:
    return Message(msgid).render(locale_of(request))


# -- login, logout ---------------------------------------------------------------------------------

@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "accounts/login.html", next=_safe_next(next))


@router.post("/login", dependencies=Csrf)
def login(request: Request, db: Db, username: str = Form(...), password: str = Form(...),
          next: str = Form("/")) -> Response:
    settings = get_settings(request)
    try:
        user = authenticate(db, username.strip(), password, client=client_of(request),
                            max_failures=settings.login_max_failures,
                            window_seconds=settings.login_window_seconds)
    except LoginRefused as exc:
        return render(request, "accounts/login.html", status_code=401, next=_safe_next(next),
                      username=username, error=exc.message.render(locale_of(request)))
    sign_in(request, db, user)
    if user.must_change_password:
        return RedirectResponse(f"/account/password?next={quote(_safe_next(next), safe='/')}",
                                status_code=303)
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", dependencies=Csrf)
def logout(request: Request, db: Db) -> Response:
    sign_out(request, db)
    return RedirectResponse("/login", status_code=303)


# -- one's own account -------------------------------------------------------------------------------

def _account(request: Request, db: Session, user: User, *, status_code: int = 200,
             **extra: Any) -> HTMLResponse:
    settings = get_settings(request)
    return render(request, "accounts/account.html", status_code=status_code, user=user,
                  sessions=open_sessions(db, user.id, Timeouts.of(settings)),
                  tokens=tokens_of(db, user.id), this_session=session_id_of(request),
                  settings=settings, **extra)


@router.get("/account", response_class=HTMLResponse)
def account(request: Request, db: Db, user: Me, done: str = "") -> HTMLResponse:
    return _account(request, db, user, message=_done(request, done), message_kind="ok")


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, user: Me, next: str = "/account") -> HTMLResponse:
    return render(request, "accounts/password.html", user=user, next=_safe_next(next),
                  forced=user.must_change_password,
                  min_length=get_settings(request).password_min_length)


@router.post("/account/password", dependencies=Csrf)
def change_password(request: Request, db: Db, user: Me,
                    new_password: Annotated[str, Form()], confirm: Annotated[str, Form()],
                    current: Annotated[str, Form()] = "",
                    next: Annotated[str, Form()] = "/account") -> Response:
    settings = get_settings(request)
    forced = user.must_change_password
    try:
        if new_password != confirm:
            raise Invalid(Message(_("两次输入的新密码不一致")))
        users.change_own_password(db, user, current=current, new=new_password,
                                  min_length=settings.password_min_length,
                                  keep_session=session_id_of(request))
    except DomainError as exc:
        return render(request, "accounts/password.html", status_code=exc.status_code, user=user,
                      next=_safe_next(next), forced=forced,
                      min_length=settings.password_min_length,
                      message=exc.message.render(locale_of(request)), message_kind="error")
    target = _safe_next(next) if forced else "/account"
    return RedirectResponse("/account?done=password" if target == "/account" else target,
                            status_code=303)


@router.post("/account/sessions/{session_id}/end", dependencies=Csrf)
def end_my_session(request: Request, session_id: int, db: Db, user: Me) -> Response:
    users.end_session(db, user, user.id, session_id)
    if session_id == session_id_of(request):
        sign_out(request, db, "ended")
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/account?done=ended", status_code=303)


@router.post("/account/tokens", dependencies=Csrf)
def new_token(request: Request, db: Db, user: Me,
              name: Annotated[str, Form()] = "api") -> HTMLResponse:
    """The new token is on this answer only (not a redirect): it is never shown again."""
    clear, row = users.create_token(db, user, name, days=get_settings(request).token_days)
    return _account(request, db, user, new_token=clear, new_token_row=row)


@router.post("/account/tokens/{token_id}/revoke", dependencies=Csrf)
def revoke_my_token(token_id: int, db: Db, user: Me) -> Response:
    users.revoke_token(db, user, user.id, token_id)
    return RedirectResponse("/account?done=revoked", status_code=303)


# -- administration of users ---------------------------------------------------------------------------

def _users_page(request: Request, db: Session, actor: User, *, role: str = "",
                region: str = "", active: str = "", status_code: int = 200,
                **extra: Any) -> HTMLResponse:
    flag = {"1": True, "0": False}.get(active)
    try:
        found = users.list_users(db, actor, role=role or None, region=region or None,
                                 active=flag)
    except Invalid as exc:
        found, extra = [], {**extra, "message": exc.message.render(locale_of(request)),
                            "message_kind": "error"}
    return render(request, "accounts/users.html", status_code=status_code, user=actor,
                  users=found, roles=[r.value for r in Role], can_manage=may(actor, "user",
                                                                             "manage"),
                  filters={"role": role, "region": region, "active": active}, **extra)


@router.get("/admin/users", response_class=HTMLResponse)
def users_list(request: Request, db: Db, actor: Viewer, role: str = "", region: str = "",
               active: str = "") -> HTMLResponse:
    return _users_page(request, db, actor, role=role, region=region, active=active)


def _optional_int(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    if not value.isdigit():
        raise Invalid(Message(_("主体编号应为数字")))
    return int(value)


@router.post("/admin/users", dependencies=Csrf)
def add_user(request: Request, db: Db, actor: Manager, username: Annotated[str, Form()],
             role: Annotated[str, Form()], region_code: Annotated[str, Form()],
             display_name: Annotated[str, Form()] = "", bank_code: Annotated[str, Form()] = "",
             subject_id: Annotated[str, Form()] = "",
             department_code: Annotated[str, Form()] = "") -> HTMLResponse:
    """Adds with a one-time code, shown on this answer only."""
    try:
        made = users.add_user(db, actor, username=username, role=role, region_code=region_code,
                              display_name=display_name, bank_code=bank_code,
                              subject_id=_optional_int(subject_id),
                              department_code=department_code,
                              min_length=get_settings(request).password_min_length)
    except DomainError as exc:
        return _users_page(request, db, actor, status_code=exc.status_code,
                           message=exc.message.render(locale_of(request)), message_kind="error",
                           form={"username": username, "role": role, "region_code": region_code,
                                 "display_name": display_name, "bank_code": bank_code,
                                 "subject_id": subject_id, "department_code": department_code})
    return _user_page(request, db, actor, made.user.id, code=made.code)


def _user_page(request: Request, db: Session, actor: User, user_id: int, *,
               status_code: int = 200, code: str | None = None, **extra: Any) -> HTMLResponse:
    shown = users.get_user_for(db, actor, user_id, "view")
    manage = may(actor, "user", "manage")
    timeouts = Timeouts.of(get_settings(request))
    return render(request, "accounts/user.html", status_code=status_code, user=actor,
                  shown=shown, can_manage=manage, code=code, roles=[r.value for r in Role],
                  sessions=users.sessions_for(db, actor, user_id, timeouts) if manage else [],
                  tokens=users.tokens_for(db, actor, user_id) if manage else [],
                  this_session=session_id_of(request), **extra)


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: int, db: Db, actor: Viewer, done: str = ""
              ) -> HTMLResponse:
    return _user_page(request, db, actor, user_id, message=_done(request, done),
                      message_kind="ok")


def _refused(request: Request, db: Session, actor: User, user_id: int,
             exc: DomainError) -> HTMLResponse:
    """A refused change, shown on the user's page (a user one may not reach stays not found)."""
    return _user_page(request, db, actor, user_id, status_code=exc.status_code,
                      message=exc.message.render(locale_of(request)), message_kind="error")


def _back(user_id: int, done: str) -> RedirectResponse:
    return RedirectResponse(f"/admin/users/{user_id}?done={done}", status_code=303)


@router.post("/admin/users/{user_id}/change", dependencies=Csrf)
def change_user(request: Request, user_id: int, db: Db, actor: Manager,
                role: Annotated[str, Form()] = "", region_code: Annotated[str, Form()] = "",
                bank_code: Annotated[str, Form()] = "",
                display_name: Annotated[str, Form()] = "") -> Response:
    """The form always carries the bank: empty removes it."""
    users.get_user_for(db, actor, user_id, "manage")  # not found before anything is told
    try:
        users.change_user(db, actor, user_id, role=role or None, region_code=region_code or None,
                          bank_code=bank_code, display_name=display_name or None)
    except DomainError as exc:
        return _refused(request, db, actor, user_id, exc)
    return _back(user_id, "changed")


@router.post("/admin/users/{user_id}/disable", dependencies=Csrf)
def disable_user(request: Request, user_id: int, db: Db, actor: Manager) -> Response:
    users.get_user_for(db, actor, user_id, "manage")
    try:
        users.set_active(db, actor, user_id, False)
    except DomainError as exc:
        return _refused(request, db, actor, user_id, exc)
    return _back(user_id, "disabled")


@router.post("/admin/users/{user_id}/enable", dependencies=Csrf)
def enable_user(user_id: int, db: Db, actor: Manager) -> Response:
    users.set_active(db, actor, user_id, True)
    return _back(user_id, "enabled")


@router.post("/admin/users/{user_id}/reset-password", dependencies=Csrf)
def reset_password(request: Request, user_id: int, db: Db, actor: Manager) -> HTMLResponse:
    """A one-time code, shown on this answer only; the user's sessions and tokens end."""
    made = users.reset_password(db, actor, user_id,
                                min_length=get_settings(request).password_min_length)
    if made.user.id == actor.id:  # one's own reset ends this session too
        sign_out(request, db, "password")
    return _user_page(request, db, actor, user_id, code=made.code)


@router.post("/admin/users/{user_id}/sessions/{session_id}/end", dependencies=Csrf)
def end_user_session(user_id: int, session_id: int, db: Db, actor: Manager) -> Response:
    users.end_session(db, actor, user_id, session_id)
    return _back(user_id, "ended")


@router.post("/admin/users/{user_id}/sessions/end-all", dependencies=Csrf)
def end_user_sessions(user_id: int, db: Db, actor: Manager) -> Response:
    users.end_sessions(db, actor, user_id)
    return _back(user_id, "ended")


@router.post("/admin/users/{user_id}/tokens/{token_id}/revoke", dependencies=Csrf)
def revoke_user_token(user_id: int, token_id: int, db: Db, actor: Manager) -> Response:
    users.revoke_token(db, actor, user_id, token_id)
    return _back(user_id, "revoked")
