"""Users, their web sessions, API tokens and the access log."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.accounts.roles import Role
from ctown.db import Base, UTCDateTime, utcnow


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(24))
    #: County, township or village code: the region the user works in.
    region_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    #: For farmers: their household (or entity); for proxies: none (see ProxyMandate).
    subject_id: Mapped[int | None] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    bank_code: Mapped[str | None] = mapped_column(sa.String(32))
    department_code: Mapped[str | None] = mapped_column(sa.String(32))
    locale: Mapped[str] = mapped_column(sa.String(10), default="zh_Hans")
    is_active: Mapped[bool] = mapped_column(default=True)
    #: Set when someone else chose the password (an administrator, a one-time code): the user
    #: sets their own at the next login before anything else (首次登录修改密码).
    must_change_password: Mapped[bool] = mapped_column(default=False,
                                                       server_default=sa.false())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("role IN (" + ", ".join(f"'{r.value}'" for r in Role) + ")",
                           name="role"),
    )

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class ProxyMandate(Base):
    """A household's authorisation of a credit proxy (信用代理授权) to act for it, within a scope.

    Recorded by an officer at the village service point, in force only once the farmer confirmed
    it (``confirmed_at``: a one-time code sent to the phone on file, or the signed paper form's
    reference), and until ``valid_until`` or ``revoked_at``. The workflow is :mod:`ctown.proxy`;
    what "in force" means, for which purposes, is :mod:`ctown.access.rules`. The row lives here,
    below the access layer, because the access layer reads it on every proxy's query.
    """

    __tablename__ = "proxy_mandates"

    id: Mapped[int] = mapped_column(primary_key=True)
    proxy_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    #: When it was recorded (登记) at the service point.
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: The scope (授权范围): 查询 / 代为申请贷款 / 代为授权银行查询 (access.policy.BY_MANDATE).
    scope_query: Mapped[bool] = mapped_column(sa.Boolean)
    scope_apply: Mapped[bool] = mapped_column(sa.Boolean)
    scope_consent: Mapped[bool] = mapped_column(sa.Boolean)
    #: The officer who recorded it (None: a mandate from before migration 0015).
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: How the farmer confirmed: "sms" (one-time code), "paper" (signed form), "legacy" (0015).
    confirmation: Mapped[str | None] = mapped_column(sa.String(8))
    #: The signed paper form's number (纸质授权书编号), when confirmed on paper.
    paper_ref: Mapped[str | None] = mapped_column(sa.String(40), index=True)
    #: The one-time code's keyed hash (never the code), its expiry, how often one was sent and
    #: how many wrong codes were typed (both capped by ctown.proxy.service).
    code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    code_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    code_sends: Mapped[int] = mapped_column(sa.Integer, default=0)
    code_failures: Mapped[int] = mapped_column(sa.Integer, default=0)
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    revoke_reason: Mapped[str | None] = mapped_column(sa.String(200))

    __table_args__ = (
        sa.CheckConstraint("scope_query OR scope_apply OR scope_consent", name="scope"),
        sa.CheckConstraint("confirmation IN ('sms', 'paper', 'legacy')", name="confirmation"),
    )


class ApiToken(Base):
    """Bearer tokens for scripts and department feeds; only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: After this a token is refused (401) like a revoked one (令牌有效期, 90 days by default).
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class UserSession(Base):
    """A signed-in browser (会话): the cookie carries a random id, the table only its SHA-256.

    Active while not ended, seen within the idle timeout and younger than the absolute one
    (:mod:`ctown.accounts.sessions`). Ended rows are kept: who was signed in from where.
    """

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    id_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    #: logout, login (a new login from the same browser), idle, expired, ended (by the user),
    #: admin, disabled, password (changed or reset).
    end_reason: Mapped[str | None] = mapped_column(sa.String(16))
    client: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(120))


class AccessLog(Base):
    """Logins (good and failed) and denied accesses. Never holds a password or an identifier."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(sa.Integer, index=True)
    username: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    event: Mapped[str] = mapped_column(sa.String(24))
    detail: Mapped[str | None] = mapped_column(sa.String(300))
    client: Mapped[str | None] = mapped_column(sa.String(64))
