"""Users, API tokens and the access log."""

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
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        sa.CheckConstraint("role IN (" + ", ".join(f"'{r.value}'" for r in Role) + ")",
                           name="role"),
    )

    @property
    def role_enum(self) -> Role:
        return Role(self.role)


class ProxyMandate(Base):
    """A farmer's authorisation of a credit proxy (信用代理员) to query and apply for them."""

    __tablename__ = "proxy_mandates"

    id: Mapped[int] = mapped_column(primary_key=True)
    proxy_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    """Bearer tokens for scripts and department feeds; only a SHA-256 of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


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
