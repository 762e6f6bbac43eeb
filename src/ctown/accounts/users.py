"""Administering users (用户管理): the first county administrator, adding, changing, disabling and
re-enabling users, resetting passwords, changing one's own, ending sessions, revoking tokens.

Every function takes the acting user (``None``: the county's own job, the CLI) and reaches the
user through the access table ("user": view / manage, by the region the user works in), so a
user one may not manage is "not found". Every change is audited (``ctown.audit``, on the
ledger) — never with a password. Passwords chosen here follow the policy of
:mod:`ctown.accounts.passwords`; a password someone else chose (or a one-time code) must be
changed by the user at their next login.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.scope import get_for, reaches_values, require, scope
from ctown.accounts import sessions as websessions
from ctown.accounts.access import USERS
from ctown.accounts.models import AccessLog, ApiToken, User, UserSession
from ctown.accounts.passwords import check_password, one_time_code
from ctown.accounts.roles import Role
from ctown.accounts.security import hash_password, verify_password
from ctown.accounts.service import new_api_token, revoke_tokens, tokens_of
from ctown.audit import audit
from ctown.db import storable_int, utcnow
from ctown.errors import Conflict, Forbidden, Invalid, NotFound
from ctown.i18n import Message, _
from ctown.registry.identifiers import IdentifierError, division_code_level, division_prefix
from ctown.registry.models import Region, Subject

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}")
#: What an account of a role must name: a bank officer and an insurer their institution (their
#: rows are reached by it), a farmer their household, a department's account its department.
NEEDS: dict[Role, str] = {Role.bank_officer: "bank", Role.insurer: "bank",
                          Role.farmer: "subject", Role.department_feed: "department"}


@dataclass(frozen=True)
class NewUser:
    """A user just added or reset: ``code`` is the one-time password, shown once (or None)."""

    user: User
    code: str | None


def parse_role(value: str) -> Role:
    try:
        return Role(value.strip())
    except ValueError:
        raise Invalid(Message(_("未知的角色 {role}；可用的角色：{known}"), {
            "role": value, "known": ", ".join(r.value for r in Role)})) from None


def _region(session: Session, code: str) -> Region:
    region = session.get(Region, code.strip())
    if region is None:
        raise Invalid(Message(_("未知的区划 {code}：先导入区划（ctown ingest），或检查代码"),
                              {"code": code}))
    return region


def _check_reach(actor: User | None, region_code: str) -> None:
    """A user may be placed only in a region the actor manages users of."""
    if not reaches_values(actor, "user", "manage", region=region_code):
        raise Forbidden(Message(_("您不能管理区划 {code} 的用户"), {"code": region_code}))


def _check_needs(session: Session, role: Role, region_code: str, *, bank: str | None,
                 subject_id: int | None, department: str | None) -> None:
    need = NEEDS.get(role)
    if need == "bank" and not bank:
        raise Invalid(Message(_("角色 {role} 需要机构代码（--bank）"), {"role": role.value}))
    if need == "department" and not department:
        raise Invalid(Message(_("角色 {role} 需要部门代码（--department）"), {"role": role.value}))
    if need == "subject" and subject_id is None:
        raise Invalid(Message(_("农户账号必须关联一个主体")))
    if subject_id is not None:
        subject = session.get(Subject, subject_id) if storable_int(subject_id) else None
        if subject is None:
            raise Invalid(Message(_("没有主体 {id}"), {"id": subject_id}))
        if not subject.region_code.startswith(division_prefix(region_code)):
            raise Invalid(Message(_("主体 {id} 不在区划 {code} 内"),
                                  {"id": subject_id, "code": region_code}))


def _password(password: str | None, username: str, min_length: int) -> tuple[str, str | None]:
    """The password to hash and the one-time code to show (when none was given)."""
    if password is None:
        code = one_time_code()
        return code, code
    check_password(password, username=username, min_length=min_length)
    return password, None


def add_user(session: Session, actor: User | None, *, username: str, role: Role | str,
             region_code: str, display_name: str | None = None, bank_code: str | None = None,
             subject_id: int | None = None, department_code: str | None = None,
             password: str | None = None, min_length: int = 10, must_change: bool = True
             ) -> NewUser:
    """Add a user (添加用户). Without a password a one-time code is made; either way someone else
    chose it, so the user sets their own at first login (``must_change``)."""
    require(actor, "user", "manage")
    username = username.strip()
    if not USERNAME.fullmatch(username):
        raise Invalid(Message(_("用户名 {username} 无效：2–64 个字母、数字或 _ . @ -"),
                              {"username": username}))
    role = parse_role(role)
    region = _region(session, region_code)
    _check_reach(actor, region.code)
    bank, department = (bank_code or "").strip() or None, (department_code or "").strip() or None
    _check_needs(session, role, region.code, bank=bank, subject_id=subject_id,
                 department=department)
    if session.scalar(sa.select(User.id).where(User.username == username)) is not None:
        raise Conflict(Message(_("用户名 {username} 已存在"), {"username": username}))
    clear, code = _password(password, username, min_length)
    user = User(username=username, display_name=(display_name or "").strip() or username,
                role=role.value, region_code=region.code, subject_id=subject_id, bank_code=bank,
                department_code=department, password_hash=hash_password(clear),
                must_change_password=must_change, created_at=utcnow())
    session.add(user)
    session.flush()
    audit(session, actor, "user.add", f"user {username}", role=role.value, region=region.code,
          bank=bank, department=department, subject_id=subject_id,
          password="one-time code" if code else "set by the administrator")
    return NewUser(user, code)


def _active_admins(session: Session) -> list[str]:
    return list(session.scalars(sa.select(User.username).where(
        User.role == Role.county_admin.value, User.is_active.is_(True)).order_by(User.username)))


def create_admin(session: Session, *, username: str, password: str | None,
                 region_code: str | None = None, region_name: str | None = None,
                 display_name: str | None = None, min_length: int = 10) -> NewUser:
    """The first county administrator (首个县管理员), by the county's own command. Refused once
    any active one exists. The county is the one region of level "county"; on a database
    without regions ``region_code`` names it and only that region is created (the townships
    and villages come with the regions file, ``ctown ingest``)."""
    admins = _active_admins(session)
    if admins:
        raise Conflict(Message(_("已有在用的县管理员（{names}），不再创建；请用 ctown users add "
                                 "添加用户"), {"names": ", ".join(admins)}))
    county = _county(session, region_code, region_name)
    return add_user(session, None, username=username, role=Role.county_admin,
                    region_code=county.code, display_name=display_name, password=password,
                    min_length=min_length, must_change=password is None)


def _county(session: Session, code: str | None, name: str | None) -> Region:
    counties = list(session.scalars(sa.select(Region).where(Region.level == "county")
                                    .order_by(Region.code)))
    code = (code or "").strip() or None
    if not counties:
        if code is None:
            raise Invalid(Message(_("数据库里还没有县级区划：请用 --region 给出本县的12位区划代码"
                                    "（如 330521000000）")))
        try:
            level = division_code_level(code)
        except IdentifierError as exc:
            raise Invalid(exc.message) from None
        if level != "county":
            raise Invalid(Message(_("区划代码 {code} 不是县级代码（后六位应为0）"), {"code": code}))
        region = Region(code=code, name=(name or "").strip() or code, level="county")
        session.add(region)
        session.flush()
        return region
    chosen = [c for c in counties if code in (None, c.code)]
    if len(chosen) != 1:
        raise Invalid(Message(_("请用 --region 选择本县：{codes}"),
                              {"codes": ", ".join(c.code for c in counties)}))
    return chosen[0]


def list_users(session: Session, actor: User | None, *, role: str | None = None,
               region: str | None = None, active: bool | None = None) -> list[User]:
    """The users the actor sees (用户列表), filtered by role, region (and inside it), active."""
    require(actor, "user", "view")
    stmt = scope(sa.select(User), actor, USERS, "view")
    if role:
        stmt = stmt.where(User.role == parse_role(role).value)
    if region:
        try:
            prefix = division_prefix(region.strip())
        except IdentifierError as exc:
            raise Invalid(exc.message) from None
        stmt = stmt.where(User.region_code.startswith(prefix, autoescape=True))
    if active is not None:
        stmt = stmt.where(User.is_active.is_(active))
    return list(session.scalars(stmt.order_by(User.username)))


def get_user_for(session: Session, actor: User | None, user_id: int,
                 purpose: str = "view") -> User:
    """A user the actor reaches for ``purpose``, else "not found" (the denial logged)."""
    require(actor, "user", purpose)
    user: User = get_for(session, actor, USERS, user_id, purpose)
    return user


def user_named(session: Session, actor: User | None, username: str, purpose: str = "view"
               ) -> User:
    """The user of a username (the CLI names users by username), else "not found"."""
    found = session.scalar(sa.select(User.id).where(User.username == username.strip()))
    if found is None:
        raise NotFound(Message(_("没有用户 {username}"), {"username": username}))
    return get_user_for(session, actor, found, purpose)


def _keep_an_admin(session: Session, user: User, *, leaving: bool) -> None:
    """The county keeps at least one active administrator (else nobody could let anyone in)."""
    if leaving and user.is_active and user.role == Role.county_admin.value and \
            _active_admins(session) == [user.username]:
        raise Conflict(Message(_("{username} 是唯一在用的县管理员，不能停用或改为其他角色"),
                               {"username": user.username}))


def change_user(session: Session, actor: User | None, user_id: int, *, role: str | None = None,
                region_code: str | None = None, bank_code: str | None = None,
                display_name: str | None = None) -> User:
    """Change a user's role, region, bank or name (修改用户); audited with before and after."""
    user = get_user_for(session, actor, user_id, "manage")
    new_role = parse_role(role) if role else Role(user.role)
    region = _region(session, region_code) if region_code else None
    if region is not None:
        _check_reach(actor, region.code)
    bank = user.bank_code if bank_code is None else (bank_code.strip() or None)
    _check_needs(session, new_role, region.code if region else user.region_code, bank=bank,
                 subject_id=user.subject_id, department=user.department_code)
    _keep_an_admin(session, user, leaving=new_role != Role.county_admin)
    wanted: dict[str, Any] = {
        "role": new_role.value, "region_code": region.code if region else user.region_code,
        "bank_code": bank, "display_name": (display_name or "").strip() or user.display_name}
    changes = {f: [getattr(user, f), v] for f, v in wanted.items() if getattr(user, f) != v}
    for field, (_old, value) in changes.items():
        setattr(user, field, value)
    if changes:
        session.flush()
        audit(session, actor, "user.change", f"user {user.username}", **changes)
    return user


def set_active(session: Session, actor: User | None, user_id: int, active: bool) -> User:
    """Disable (停用) or re-enable a user. Disabling ends their sessions and revokes their
    tokens at once; one cannot disable oneself nor the county's last administrator."""
    user = get_user_for(session, actor, user_id, "manage")
    if user.is_active == active:
        return user
    ended = revoked = 0
    if not active:
        if actor is not None and actor.id == user.id:
            raise Conflict(Message(_("不能停用自己的账号")))
        _keep_an_admin(session, user, leaving=True)
        ended = websessions.end_all(session, user.id, "disabled")
        revoked = revoke_tokens(session, user.id)
    user.is_active = active
    session.flush()
    audit(session, actor, "user.enable" if active else "user.disable", f"user {user.username}",
          sessions_ended=ended, tokens_revoked=revoked)
    return user


def reset_password(session: Session, actor: User | None, user_id: int, *,
                   password: str | None = None, min_length: int = 10) -> NewUser:
    """Reset a forgotten password (重置密码): a one-time code (or the given password), to be
    changed at the next login; the user's sessions end and their tokens are revoked, and a
    lock-out from failed logins is lifted."""
    user = get_user_for(session, actor, user_id, "manage")
    clear, code = _password(password, user.username, min_length)
    user.password_hash = hash_password(clear)
    user.must_change_password = True
    ended = websessions.end_all(session, user.id, "password")
    revoked = revoke_tokens(session, user.id)
    session.add(AccessLog(user_id=user.id, username=user.username, event="password_reset",
                          detail=f"by {actor.username if actor else 'county'}"[:300]))
    session.flush()
    audit(session, actor, "user.password_reset", f"user {user.username}", sessions_ended=ended,
          tokens_revoked=revoked, password="one-time code" if code else "set by the administrator")
    return NewUser(user, code)


def change_own_password(session: Session, user: User, *, current: str | None, new: str,
                        min_length: int = 10, keep_session: int | None = None) -> None:
    """Change one's own password (修改密码). The current one is asked for, except right after a
    login with a one-time code (``must_change_password``, the login just checked it). The
    user's other sessions end; their API tokens stay (scripts keep running)."""
    if not user.must_change_password and not verify_password(user.password_hash, current or ""):
        raise Invalid(Message(_("当前密码不正确")))
    check_password(new, username=user.username, min_length=min_length)
    if verify_password(user.password_hash, new):
        raise Invalid(Message(_("新密码不能与当前密码相同")))
    user.password_hash = hash_password(new)
    user.must_change_password = False
    ended = websessions.end_all(session, user.id, "password", keep=keep_session)
    session.flush()
    audit(session, user, "user.password_change", f"user {user.username}", sessions_ended=ended)


# -- sessions and tokens of a user (the administrator's) and one's own ----------------------------

def sessions_for(session: Session, actor: User | None, user_id: int,
                 timeouts: websessions.Timeouts) -> list[UserSession]:
    """The sessions in force of a user the actor manages."""
    user = get_user_for(session, actor, user_id, "manage")
    return websessions.open_sessions(session, user.id, timeouts)


def tokens_for(session: Session, actor: User | None, user_id: int) -> list[ApiToken]:
    """The tokens in force of a user the actor manages."""
    user = get_user_for(session, actor, user_id, "manage")
    return tokens_of(session, user.id)


def end_sessions(session: Session, actor: User | None, user_id: int, *,
                 tokens: bool = False) -> tuple[int, int]:
    """End every session of a user (and revoke their tokens, if asked); how many of each."""
    user = get_user_for(session, actor, user_id, "manage")
    ended = websessions.end_all(session, user.id, "admin")
    revoked = revoke_tokens(session, user.id) if tokens else 0
    audit(session, actor, "user.sessions_end", f"user {user.username}", sessions_ended=ended,
          tokens_revoked=revoked)
    return ended, revoked


def _own_session(session: Session, user_id: int, session_id: int) -> UserSession:
    row = session.get(UserSession, session_id) if storable_int(session_id) else None
    if row is None or row.user_id != user_id or row.ended_at is not None:
        raise NotFound()
    return row


def _own_token(session: Session, user_id: int, token_id: int) -> ApiToken:
    row = session.get(ApiToken, token_id) if storable_int(token_id) else None
    if row is None or row.user_id != user_id or row.revoked_at is not None:
        raise NotFound()
    return row


def end_session(session: Session, actor: User | None, user_id: int, session_id: int) -> None:
    """End one session of a user: the administrator's "end" (a user may end their own)."""
    user = _self_or_managed(session, actor, user_id)
    row = _own_session(session, user.id, session_id)
    websessions.end(row, "ended" if actor is not None and actor.id == user.id else "admin")
    audit(session, actor, "session.end", f"user {user.username}", session_id=row.id)


def revoke_token(session: Session, actor: User | None, user_id: int, token_id: int) -> None:
    """Revoke one API token of a user: its owner's or the administrator's "revoke"."""
    user = _self_or_managed(session, actor, user_id)
    row = _own_token(session, user.id, token_id)
    row.revoked_at = utcnow()
    audit(session, actor, "token.revoke", f"user {user.username}", token=row.id, name=row.name)


def _self_or_managed(session: Session, actor: User | None, user_id: int) -> User:
    if actor is not None and actor.id == user_id:
        return actor
    return get_user_for(session, actor, user_id, "manage")


def create_token(session: Session, user: User, name: str, *, days: int) -> tuple[str, ApiToken]:
    """A token for oneself (``/account``, ``POST /api/v1/auth/token``): shown once."""
    token, row = new_api_token(session, user, name, days=days)
    audit(session, user, "token.create", f"user {user.username}", token=row.id, name=row.name,
          expires_at=row.expires_at.isoformat())
    return token, row
