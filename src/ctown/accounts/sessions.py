"""Server-side web sessions (会话): started at login, ended at logout, after 30 idle minutes,
8 hours after login, or when the user is disabled or their password is reset.

The browser's cookie carries a random session id (256 bits); the table keeps only its SHA-256,
so a copy of the database signs nobody in. A session is active while ``ended_at`` is empty, it
was seen within the idle timeout and it is younger than the absolute one: the times decide, so a
session that timed out is refused even before anything wrote ``ended_at`` for it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User, UserSession
from ctown.accounts.security import token_digest
from ctown.db import utcnow
from ctown.settings import Settings

#: ``last_seen_at`` is written at most this often: one UPDATE a minute per browser, not one per
#: request, while the idle timeout stays exact to the minute.
SEEN_EVERY = dt.timedelta(minutes=1)
AGENT_LENGTH = 120


@dataclass(frozen=True)
class Timeouts:
    idle: dt.timedelta
    absolute: dt.timedelta

    @classmethod
    def of(cls, settings: Settings) -> Timeouts:
        return cls(idle=dt.timedelta(minutes=settings.session_idle_minutes),
                   absolute=dt.timedelta(hours=settings.session_absolute_hours))


def active(timeouts: Timeouts, now: dt.datetime) -> sa.ColumnElement[bool]:
    """SQL condition true for the sessions still in force at ``now``."""
    return sa.and_(UserSession.ended_at.is_(None),
                   UserSession.last_seen_at > now - timeouts.idle,
                   UserSession.created_at > now - timeouts.absolute)


def shorten_agent(agent: str | None) -> str | None:
    """The browser's User-Agent, cut to what the session list shows."""
    return agent.strip()[:AGENT_LENGTH] or None if agent else None


def start(session: Session, user: User, *, client: str | None, agent: str | None
          ) -> tuple[str, UserSession]:
    """A new session for a login: the clear id (for the cookie, once) and its row."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    row = UserSession(user_id=user.id, id_hash=token_digest(sid), created_at=now,
                      last_seen_at=now, client=client, user_agent=shorten_agent(agent))
    session.add(row)
    session.flush()
    return sid, row


def resolve(session: Session, sid: str, timeouts: Timeouts) -> tuple[UserSession, User] | None:
    """The session of a cookie and its user, or None when it ended, timed out or the user was
    disabled. A session found timed out is ended (the reason kept when the request commits)."""
    found = session.execute(sa.select(UserSession, User).join(User, User.id == UserSession.user_id)
                            .where(UserSession.id_hash == token_digest(sid),
                                   UserSession.ended_at.is_(None))).first()
    if found is None:
        return None
    row, user = found[0], found[1]
    now = utcnow()
    reason = ("disabled" if not user.is_active else
              "idle" if row.last_seen_at <= now - timeouts.idle else
              "expired" if row.created_at <= now - timeouts.absolute else None)
    if reason is not None:
        end(row, reason, now)
        return None
    if now - row.last_seen_at >= SEEN_EVERY:
        row.last_seen_at = now
    return row, user


def end(row: UserSession, reason: str, now: dt.datetime | None = None) -> None:
    if row.ended_at is None:
        row.ended_at, row.end_reason = now or utcnow(), reason


def end_by_id(session: Session, sid: str, reason: str) -> UserSession | None:
    """End the session of a cookie (logout); None when there was none."""
    row = session.scalar(sa.select(UserSession).where(UserSession.id_hash == token_digest(sid)))
    if row is not None:
        end(row, reason)
    return row


def end_all(session: Session, user_id: int, reason: str, *, keep: int | None = None) -> int:
    """End every open session of a user (but ``keep``, the one in use); how many were open."""
    stmt = (sa.update(UserSession).where(UserSession.user_id == user_id,
                                         UserSession.ended_at.is_(None))
            .values(ended_at=utcnow(), end_reason=reason))
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    result = session.execute(stmt.execution_options(synchronize_session="fetch"))
    return int(getattr(result, "rowcount", 0) or 0)


def open_sessions(session: Session, user_id: int, timeouts: Timeouts) -> list[UserSession]:
    """A user's sessions in force, newest first."""
    return list(session.scalars(sa.select(UserSession).where(
        UserSession.user_id == user_id, active(timeouts, utcnow()))
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())))
