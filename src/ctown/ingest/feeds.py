"""The county's register of department feeds (部门登记) and their push keys (报送密钥, R-1.4).

A department is registered once: code, name, contact, the mapping its data uses. Registering it
creates its **machine account**, a user of role ``department_feed`` with the department's code and
no password, under which its pushes are recorded (``Batch.actor_id``). Why a user and not a bare
key: the access table stays the one authority (``batch``/``push`` reaches a ``department_feed``'s
own department), denials land in the access log with a user, audit and batch rows keep naming an
account, and disabling the account (``ctown users disable dept_<code>``) stops the keys too. No
person can sign in as it (it has no password), and only a push key authenticates as it — and only
on the push API. A department's clerks sign in as themselves (role ``department_feed``, the same
department code): they see its batches and quarantine but cannot push
(:func:`department_of_account`).

Keys are ``ctd_`` + 32 random bytes, shown once and stored as SHA-256. A key of 256 random bits
cannot be found from its digest by guessing, so a slow password hash (Argon2, ~50 ms) would add that
to every push and nothing to safety; the digest is also what the key is looked up by (one indexed
equality, so no per-key comparison whose timing could leak). Rotation issues a new key and leaves
the old ones valid for a grace period (24 h by default) while the department switches its sender
over; revocation refuses every key of the department at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.scope import Actor, log_denied, require, scope
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.audit import audit
from ctown.db import utcnow
from ctown.errors import Conflict, DomainError, Invalid, NotFound
from ctown.i18n import Message, _
from ctown.ingest.access import DEPARTMENTS
from ctown.ingest.mapping import load_mappings
from ctown.ingest.models import Batch, Department, DepartmentKey
from ctown.registry.models import Region

KEY_PREFIX = "ctd_"
#: Characters of a key kept in clear to name it in lists and logs ("ctd_" + 8 of 43 random ones).
SHOWN = 12
GRACE_HOURS = 24
MAX_GRACE_HOURS = 24 * 30
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,15}$")
KEY_NEEDED = Message(_("报送需要部门密钥：个人的登录会话或接口令牌不能报送数据"))


class KeyRefused(DomainError):
    """No valid push key: unknown, revoked, rotated out or expired, or its department disabled."""

    status_code = 401
    default = _("部门密钥无效")


@dataclass(frozen=True)
class IssuedKey:
    """A key just made: the clear key exists only here (shown once, then only its digest)."""

    department: str
    key: str
    prefix: str
    #: After a rotation: until when the department's previous keys stay valid (None: there were
    #: none in force).
    previous_valid_until: dt.datetime | None = None


def account_name(code: str) -> str:
    """The username of a department's machine account."""
    return f"dept_{code}"


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


# -- the register ----------------------------------------------------------------------------------

def add_department(session: Session, actor: User | None, *, code: str, name: str,
                   contact: str | None = None, mapping: str | None = None) -> Department:
    """Register a department (部门登记) and create its machine account; audited."""
    require(actor, "department", "manage")
    code, name, mapping = code.strip(), name.strip(), (mapping or code).strip()
    if not _CODE.match(code):
        raise Invalid(Message(_("部门代码 {code} 无效：以小写字母开头，只含小写字母、数字和下划线，"
                                "2–16 位"), {"code": code}))
    if not name:
        raise Invalid(Message(_("部门名称不能为空")))
    mappings = load_mappings()
    if mapping not in mappings:
        raise Invalid(Message(_("没有映射文件 {mapping}（可用：{codes}）"),
                              {"mapping": mapping, "codes": ", ".join(sorted(mappings))}))
    if session.scalar(sa.select(Department.id).where(Department.code == code)) is not None:
        raise Conflict(Message(_("部门 {code} 已登记"), {"code": code}))
    county = session.scalar(sa.select(Region.code).where(Region.level == "county")
                            .order_by(Region.code).limit(1))
    if county is None:
        raise Invalid(Message(_("还没有行政区划：请先导入区划（ctown ingest）再登记部门")))
    account = create_user(session, username=account_name(code), password=None,
                          role=Role.department_feed, region_code=county, display_name=name,
                          department_code=code)
    department = Department(code=code, name=name, contact=(contact or "").strip() or None,
                            mapping=mapping, user_id=account.id)
    session.add(department)
    session.flush()
    audit(session, actor, "department.add", f"department {code}", name=name, mapping=mapping,
          account=account.username)
    return department


def get_department(session: Session, actor: User | None, code: str,
                   purpose: str = "view") -> Department:
    """The registered department, or NotFound (also for what the actor may not reach)."""
    require(actor, "department", purpose)
    department = session.scalar(scope(sa.select(Department).where(Department.code == code),
                                      actor, DEPARTMENTS, purpose))
    if department is None:
        raise NotFound(Message(_("没有登记部门 {code}"), {"code": code}))
    return department


def list_departments(session: Session, actor: User | None) -> list[dict[str, Any]]:
    """Every registered department with its keys in force and its last push (three queries)."""
    require(actor, "department", "view")
    now = utcnow()
    departments = session.execute(scope(
        sa.select(Department, User.username).join(User, User.id == Department.user_id)
        .order_by(Department.code), actor, DEPARTMENTS)).all()
    keys = dict(session.execute(
        sa.select(DepartmentKey.department_id, sa.func.count()).where(_in_force(now))
        .group_by(DepartmentKey.department_id)).all())
    pushed = dict(session.execute(
        sa.select(Batch.department, sa.func.max(Batch.created_at)).where(Batch.channel == "api")
        .group_by(Batch.department)).all())
    return [{"code": d.code, "name": d.name, "contact": d.contact, "mapping": d.mapping,
             "active": d.is_active, "account": username, "active_keys": keys.get(d.id, 0),
             "last_push_at": pushed.get(d.code), "created_at": d.created_at}
            for d, username in departments]


def set_active(session: Session, actor: User | None, code: str, active: bool) -> Department:
    """Disable (every key refused while disabled) or enable a department again; audited."""
    department = get_department(session, actor, code, "manage")
    department.is_active = active
    audit(session, actor, "department.enable" if active else "department.disable",
          f"department {code}")
    session.flush()
    return department


def department_of_account(session: Session, actor: Actor) -> Department | None:
    """The department whose machine account ``actor`` is (None: a person)."""
    return session.scalar(sa.select(Department).where(Department.user_id == actor.id))


def mapping_of(session: Session, department: str) -> str:
    """The mapping a department's data is read with (its own code when it is not registered)."""
    registered = session.scalar(sa.select(Department.mapping).where(Department.code == department))
    return registered or department


# -- keys ------------------------------------------------------------------------------------------

def _in_force(now: dt.datetime) -> sa.ColumnElement[bool]:
    return sa.and_(DepartmentKey.revoked_at.is_(None),
                   sa.or_(DepartmentKey.expires_at.is_(None), DepartmentKey.expires_at > now))


def key_state(key: DepartmentKey, now: dt.datetime) -> str:
    """``active``, ``grace`` (rotated out, still valid until ``expires_at``), ``expired`` or
    ``revoked``."""
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is None:
        return "active"
    return "grace" if key.expires_at > now else "expired"


def _new_key(session: Session, actor: User | None, department: Department,
             now: dt.datetime) -> tuple[DepartmentKey, str]:
    if not department.is_active:
        raise Invalid(Message(_("部门 {code} 已停用：请先启用再签发密钥"), {"code": department.code}))
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = DepartmentKey(department_id=department.id, prefix=key[:SHOWN], key_hash=_digest(key),
                        issued_at=now, issued_by=actor.id if actor else None)
    session.add(row)
    session.flush()
    return row, key


def issue_key(session: Session, actor: User | None, code: str) -> IssuedKey:
    """A new push key for the department (its other keys stay as they are); audited, without
    the key."""
    department = get_department(session, actor, code, "manage")
    row, key = _new_key(session, actor, department, utcnow())
    audit(session, actor, "department.key_issue", f"department {code}", prefix=row.prefix)
    return IssuedKey(code, key, row.prefix)


def rotate_key(session: Session, actor: User | None, code: str,
               grace_hours: int = GRACE_HOURS) -> IssuedKey:
    """A new key; the keys in force stay valid for ``grace_hours`` more (0: refused at once)."""
    if not 0 <= grace_hours <= MAX_GRACE_HOURS:
        raise Invalid(Message(_("宽限期须在 0 到 {max} 小时之间"), {"max": MAX_GRACE_HOURS}))
    department = get_department(session, actor, code, "manage")
    now = utcnow()
    until = now + dt.timedelta(hours=grace_hours)
    retiring = session.scalars(sa.select(DepartmentKey).where(
        DepartmentKey.department_id == department.id, _in_force(now))).all()
    for old in retiring:
        old.expires_at = min(old.expires_at, until) if old.expires_at else until
    row, key = _new_key(session, actor, department, now)
    audit(session, actor, "department.key_rotate", f"department {code}", prefix=row.prefix,
          retiring=[old.prefix for old in retiring], grace_hours=grace_hours)
    return IssuedKey(code, key, row.prefix, until if retiring else None)


def revoke_keys(session: Session, actor: User | None, code: str) -> int:
    """Refuse every key of the department from now on; the number of keys revoked."""
    department = get_department(session, actor, code, "manage")
    now = utcnow()
    keys = session.scalars(sa.select(DepartmentKey).where(
        DepartmentKey.department_id == department.id, DepartmentKey.revoked_at.is_(None))).all()
    for key in keys:
        key.revoked_at = now
    session.flush()
    audit(session, actor, "department.key_revoke", f"department {code}",
          prefixes=[key.prefix for key in keys])
    return len(keys)


def list_keys(session: Session, actor: User | None, code: str) -> list[dict[str, Any]]:
    """The department's keys, newest first: prefix, state and times — never a key."""
    department = get_department(session, actor, code)
    now = utcnow()
    keys = session.scalars(sa.select(DepartmentKey).where(
        DepartmentKey.department_id == department.id).order_by(DepartmentKey.id.desc()))
    return [{"prefix": k.prefix, "state": key_state(k, now), "issued_at": k.issued_at,
             "last_used_at": k.last_used_at, "expires_at": k.expires_at,
             "revoked_at": k.revoked_at} for k in keys]


def authenticate_key(session: Session, key: str, department: str, client: str | None = None,
                     now: dt.datetime | None = None) -> User:
    """The machine account a push key authenticates (its use recorded), or KeyRefused (401) and
    the refusal logged. ``department`` is the one pushed for (for the log; whether the key may
    push for it is :func:`ctown.ingest.service.push_for`'s to decide)."""
    now = now or utcnow()
    found = session.execute(
        sa.select(DepartmentKey, Department, User)
        .join(Department, Department.id == DepartmentKey.department_id)
        .join(User, User.id == Department.user_id)
        .where(DepartmentKey.key_hash == _digest(key))).first()
    if found is None:
        log_denied(session, None, f"feed push {department}: unknown key", client)
        raise KeyRefused(Message(_("部门密钥无效")))
    row, owner, account = found
    state = key_state(row, now)
    problem = {"revoked": _("部门密钥已撤销"), "expired": _("部门密钥已过期（已轮换或到期）")}.get(state)
    if problem is None and not (owner.is_active and account.is_active):
        state, problem = "department disabled", _("部门 {code} 已停用")
    if problem is not None:
        log_denied(session, account, f"feed push {department}: key {row.prefix} {state}", client)
        raise KeyRefused(Message(problem, {"code": owner.code}))
    row.last_used_at = now
    return account
