"""Users: creation, authentication with lock-out, API tokens (proxy mandates: ctown.proxy).

Administering users (adding one with a checked password, disabling, resetting) is
:mod:`ctown.accounts.users`; web sessions are :mod:`ctown.accounts.sessions`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import AccessLog, ApiToken, User
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
                bank_code: str | None = None, department_code: str | None = None,
                must_change_password: bool = False) -> User:
    """Create a user with any password, unchecked: the county's own scripts (the demo, whose
    accounts keep username = password as the README says, and the tests). A password chosen by
    a person goes through :func:`ctown.accounts.users.add_user`, which applies the policy
    (:mod:`ctown.accounts.passwords`) and makes the user set their own at first login."""
    role = Role(role)
    division_code_level(region_code)
    if role == Role.farmer and subject_id is None:
        raise Invalid(Message(_("农户账号必须关联一个主体")))
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(Message(_("用户名 {username} 已存在"), {"username": username}))
    user = User(username=username, display_name=display_name or username, role=role.value,
                region_code=region_code, subject_id=subject_id, bank_code=bank_code,
                department_code=department_code, must_change_password=must_change_password,
                password_hash=hash_password(password) if password else None)
    session.add(user)
    session.flush()
    return user


#: Events after which earlier failures no longer count: a good login, a password reset.
CLEARS_FAILURES = ("login", "password_reset")


def recent_failures(session: Session, username: str, window: dt.timedelta) -> int:
    since = utcnow() - window
    last_ok = session.scalar(sa.select(sa.func.max(AccessLog.at)).where(
        AccessLog.username == username, AccessLog.event.in_(CLEARS_FAILURES)))
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


#: Days an API token is valid by default (``Settings.token_days``).
TOKEN_DAYS = 90


def new_api_token(session: Session, user: User, name: str, *, days: int = TOKEN_DAYS
                  ) -> tuple[str, ApiToken]:
    """Create an API token (令牌) valid ``days``: the clear token, returned once, and its row;
    only the token's SHA-256 is kept."""
    token = new_token()
    row = ApiToken(user_id=user.id, name=(name.strip() or "api")[:100],
                   token_hash=token_digest(token), created_at=utcnow(),
                   expires_at=utcnow() + dt.timedelta(days=days))
    session.add(row)
    session.flush()
    return token, row


def issue_token(session: Session, user: User, name: str, *, days: int = TOKEN_DAYS) -> str:
    """Create an API token; the clear token is returned once and only its digest is kept."""
    return new_api_token(session, user, name, days=days)[0]


def token_in_force(now: dt.datetime) -> sa.ColumnElement[bool]:
    """SQL condition true for tokens that are neither revoked nor expired at ``now``."""
    return sa.and_(ApiToken.revoked_at.is_(None), ApiToken.expires_at > now)


def user_for_token(session: Session, token: str) -> User | None:
    """The active user of a token in force, else None (the API answers 401)."""
    return session.scalar(
        sa.select(User).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == token_digest(token), token_in_force(utcnow()),
               User.is_active.is_(True)))


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """A user's tokens in force, newest first."""
    return list(session.scalars(sa.select(ApiToken).where(
        ApiToken.user_id == user_id, token_in_force(utcnow()))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())))


def revoke_tokens(session: Session, user_id: int) -> int:
    """Revoke every token of a user still in force; how many were."""
    result = session.execute(
        sa.update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)
