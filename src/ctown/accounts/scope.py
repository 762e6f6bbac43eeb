"""The one place that decides which subjects a user may see (R-1.1 region scope).

Every list of subjects is filtered by :func:`scope_subjects`; every single subject is fetched with
:func:`get_subject_for`, which answers "not found" for what the user may not see, so that guessing
ids reveals nothing. Denied look-ups of existing subjects are logged.
"""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from ctown.accounts.models import AccessLog, ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.db import utcnow
from ctown.errors import NotFound
from ctown.registry.identifiers import division_prefix
from ctown.registry.models import Subject

T = TypeVar("T", bound=tuple[object, ...])

#: Roles that see every subject of their region (a village officer: only their village).
_REGIONAL = frozenset({Role.county_admin, Role.township_officer, Role.village_officer,
                       Role.evaluation_member, Role.privacy_officer, Role.evaluator,
                       Role.bank_officer, Role.insurer, Role.merchant})


def region_prefix(actor: User) -> str:
    """The code prefix shared by every region inside the actor's region."""
    return division_prefix(actor.region_code)


def visible_subjects(actor: User) -> sa.ColumnElement[bool]:
    """SQL condition on ``Subject`` true for the subjects the actor may see."""
    role = Role(actor.role)
    if role in _REGIONAL:
        return Subject.region_code.startswith(region_prefix(actor), autoescape=True)
    if role == Role.farmer and actor.subject_id is not None:
        return sa.or_(Subject.id == actor.subject_id, Subject.household_id == actor.subject_id)
    if role == Role.credit_proxy:
        mandated = (sa.select(ProxyMandate.subject_id)
                    .where(ProxyMandate.proxy_id == actor.id, ProxyMandate.revoked_at.is_(None),
                           ProxyMandate.valid_until > utcnow()))
        return sa.or_(Subject.id.in_(mandated), Subject.household_id.in_(mandated))
    return sa.false()


def scope_subjects(stmt: Select[T], actor: User) -> Select[T]:
    """Restrict any select that involves ``Subject`` to what the actor may see."""
    return stmt.where(visible_subjects(actor))


def get_subject_for(session: Session, actor: User, subject_id: int) -> Subject:
    subject = session.scalar(scope_subjects(sa.select(Subject).where(Subject.id == subject_id),
                                            actor))
    if subject is None:
        if session.get(Subject, subject_id) is not None:
            log_denied(session, actor, f"subject {subject_id}")
        raise NotFound()
    return subject


def log_denied(session: Session, actor: User | None, what: str, client: str | None = None) -> None:
    entry = AccessLog(user_id=actor.id if actor else None,
                      username=actor.username if actor else None,
                      event="denied", detail=what[:300], client=client)
    session.add(entry)
    # The request that is denied usually fails and rolls back; web/deps.get_db writes these again.
    session.info.setdefault("denied", []).append(entry)
