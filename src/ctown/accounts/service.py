"""Users: creation, authentication with lock-out, API tokens, proxy mandates."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import AccessLog, ApiToken, ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.accounts.security import hash_password, new_token, token_digest, verify_password
from ctown.db import utcnow
from ctown.errors import Conflict, Invalid
from ctown.i18n import Message, _
from ctown.registry.identifiers import division_code_level


class LoginRefused(Exception):
    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


def create_user(session: Session, *, username: str, password: str | None, role: Role | str,
                region_code: str, display_name: str | None = None, subject_id: int | None = None,
                bank_code: str | None = None, department_code: str | None = None) -> User:
    role = Role(role)
    division_code_level(region_code)
    if role == Role.farmer and subject_id is None:
        raise Invalid(Message(_("农户账号必须关联一个主体")))
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(Message(_("用户名 {username} 已存在"), {"username": username}))
    user = User(username=username, display_name=display_name or username, role=role.value,
                region_code=region_code, subject_id=subject_id, bank_code=bank_code,
                department_code=department_code,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


def recent_failures(session: Session, username: str, window: dt.timedelta) -> int:
    since = utcnow() - window
    last_ok = session.scalar(sa.select(sa.func.max(AccessLog.at)).where(
        AccessLog.username == username, AccessLog.event == "login"))
    if last_ok is not None and last_ok > since:
        since = last_ok
    return session.scalar(sa.select(sa.func.count()).select_from(AccessLog).where(
        AccessLog.username == username, AccessLog.event == "login_failed",
        AccessLog.at > since)) or 0


def authenticate(session: Session, username: str, password: str, *, client: str | None,
                 max_failures: int, window_seconds: int) -> User:
    """Check a password; after ``max_failures`` failures in the window the account waits.

    The failure is logged whether or not the user exists, so probing names locks them too.
    """
    window = dt.timedelta(seconds=window_seconds)
    if recent_failures(session, username, window) >= max_failures:
        session.add(AccessLog(username=username, event="login_locked", client=client))
        raise LoginRefused(Message(_("登录失败次数过多，请{minutes}分钟后再试"),
                                   {"minutes": window_seconds // 60}))
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None or not user.is_active or not verify_password(user.password_hash, password):
        session.add(AccessLog(username=username, event="login_failed", client=client,
                              user_id=user.id if user else None))
        raise LoginRefused(Message(_("用户名或密码错误")))
    session.add(AccessLog(username=username, user_id=user.id, event="login", client=client))
    return user


def issue_token(session: Session, user: User, name: str) -> str:
    """Create an API token; the clear token is returned once and only its digest is kept."""
    token = new_token()
    session.add(ApiToken(user_id=user.id, name=name, token_hash=token_digest(token)))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    return session.scalar(
        sa.select(User).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_digest(token), ApiToken.revoked_at.is_(None),
               User.is_active.is_(True)))


def grant_mandate(session: Session, *, proxy: User, subject_id: int, days: int = 365
                  ) -> ProxyMandate:
    if Role(proxy.role) != Role.credit_proxy:
        raise Invalid(Message(_("只能授权给信用代理员")))
    mandate = ProxyMandate(proxy_id=proxy.id, subject_id=subject_id,
                           valid_until=utcnow() + dt.timedelta(days=days))
    session.add(mandate)
    session.flush()
    return mandate
