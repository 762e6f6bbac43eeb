"""The one place that decides which rows an actor reaches (R-1.1 region scope, R-7.1, R-7.2).

A capability describes each of its resources once — a :class:`Resource` naming the columns that
carry its region, subject, bank… — and asks:

- :func:`scope` to restrict any select to the rows the actor reaches for a purpose (as netbox's
  ``RestrictedQuerySet.restrict``);
- :func:`get_for` to fetch one row, answering "not found" for a row the actor may not reach, so
  that guessing ids reveals nothing, and logging the denial (as zulip's ``access_*_by_id``);
- :func:`allowed` / :func:`require` for a feature gate (a role that reaches no row at all).

``actor=None`` is the county's own job on the server (the CLI run by the operator, a scheduled
task): it reaches every row. The web never passes ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, TypeVarTuple

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, Session
from sqlalchemy.sql import Select

from ctown.access import rules
from ctown.access.policy import Reach, mandate_scopes, reaches
from ctown.accounts.models import AccessLog
from ctown.db import storable_int
from ctown.errors import Forbidden, NotFound
from ctown.i18n import Message, _
from ctown.registry.identifiers import division_prefix
from ctown.registry.models import Subject

Ts = TypeVarTuple("Ts")


class Actor(Protocol):
    """Who acts, as the access layer reads them: a signed-in ``accounts.models.User``, or the
    same columns read without the ORM (the user behind a bearer token on the hot path)."""

    @property
    def id(self) -> int: ...
    @property
    def username(self) -> str: ...
    @property
    def role(self) -> str: ...
    @property
    def region_code(self) -> str: ...
    @property
    def subject_id(self) -> int | None: ...
    @property
    def bank_code(self) -> str | None: ...
    @property
    def department_code(self) -> str | None: ...


#: A mapped attribute (``Loan.bank_code``) or any SQL expression that yields the value.
Column = QueryableAttribute[Any] | sa.ColumnElement[Any]


@dataclass(frozen=True)
class Resource:
    """How the rows of one table are reached: the columns each :class:`Reach` looks at.

    ``insured`` is a condition (the rows an insurer covers), not a column. ``client_link`` marks a
    resource whose (subject, bank) pairs make the subject a client of that bank (applications,
    loans, credit lines): :attr:`Reach.client` looks through every such resource.
    """

    name: str
    model: type[Any]
    id: Column
    label: str
    region: Column | None = None
    subject: Column | None = None
    bank: Column | None = None
    insured: sa.ColumnElement[bool] | None = None
    owner: Column | None = None
    department: Column | None = None
    client_link: bool = False

    def __post_init__(self) -> None:
        _RESOURCES[self.name] = self


_RESOURCES: dict[str, Resource] = {}


@lru_cache(maxsize=1)
def _load_resources() -> None:
    """Import every capability's ``access`` module, where it describes its resources: a client of
    a bank is found through all of them, whatever the caller happened to import."""
    from ctown.capabilities import CAPABILITIES, optional_module

    for cap in CAPABILITIES:
        optional_module(cap, "access")


def resources() -> dict[str, Resource]:
    """Every resource of every capability."""
    _load_resources()
    return dict(_RESOURCES)


SUBJECTS = Resource("subject", Subject, Subject.id, label="subject", region=Subject.region_code,
                    subject=Subject.id)


# -- the conditions ------------------------------------------------------------------------------
def region_prefix(actor: Actor) -> str:
    """The code prefix shared by every region inside the actor's region."""
    return division_prefix(actor.region_code)


def _in_households(col: Column, households: sa.Select[int] | list[int]
                   ) -> sa.ColumnElement[bool]:
    return col.in_(rules.household_members(households))


def _clients(bank_code: str) -> sa.CompoundSelect[int]:
    """Subjects with a row of the bank in any client-link resource (applied, borrowed…)."""
    parts = [sa.select(r.subject).where(r.bank == bank_code) for r in resources().values()
             if r.client_link and r.subject is not None and r.bank is not None]
    return sa.union(sa.select(Subject.id).where(sa.false()), *parts)


def _insured_clients() -> sa.CompoundSelect[int]:
    """Subjects with a row an insurer covers (an insured loan)."""
    parts = [sa.select(r.subject).where(r.insured) for r in resources().values()
             if r.insured is not None and r.subject is not None]
    return sa.union(sa.select(Subject.id).where(sa.false()), *parts)


def _condition(res: Resource, reach: Reach, actor: Actor, purpose: str
               ) -> sa.ColumnElement[bool]:
    """The SQL condition of one reach; a reach the resource has no column for reaches nothing.

    ``purpose`` matters to one reach: a proxy's mandate covers some purposes (its scope)."""
    if reach is Reach.all:
        return sa.true()
    column = {Reach.region: res.region, Reach.self: res.subject, Reach.mandate: res.subject,
              Reach.bank: res.bank, Reach.consent: res.subject, Reach.client: res.subject,
              Reach.insured_client: res.subject,
              Reach.owner: res.owner, Reach.department: res.department}.get(reach)
    if reach is Reach.insured:
        return res.insured if res.insured is not None else sa.false()
    if column is None:
        return sa.false()
    if reach is Reach.region:
        return column.startswith(region_prefix(actor), autoescape=True)
    if reach is Reach.self:
        return _in_households(column, [actor.subject_id]) if actor.subject_id else sa.false()
    if reach is Reach.mandate:
        return _in_households(column, rules.mandated_subjects(
            actor.id, mandate_scopes(res.name, purpose)))
    if reach is Reach.consent:
        return _in_households(column, rules.active_consents(bank_code=actor.bank_code or "",
                                                            scope="query"))
    if reach is Reach.client:
        return column.in_(_clients(actor.bank_code or ""))
    if reach is Reach.insured_client:
        return column.in_(_insured_clients())
    if reach is Reach.owner:
        return column == actor.id
    if reach is Reach.bank:
        return column == (actor.bank_code or "")
    return column == (actor.department_code or "")  # Reach.department


def visible(res: Resource, actor: Actor | None, purpose: str = "view") -> sa.ColumnElement[bool]:
    """SQL condition true for the rows of ``res`` the actor reaches for ``purpose``."""
    if actor is None:
        return sa.true()
    conditions = [_condition(res, reach, actor, purpose)
                  for reach in reaches(res.name, purpose, actor.role)]
    return sa.or_(*conditions) if conditions else sa.false()


def scope(stmt: Select[*Ts], actor: Actor | None, res: Resource, purpose: str = "view") -> Select[*Ts]:
    """Restrict any select that involves ``res.model`` to what the actor reaches."""
    return stmt.where(visible(res, actor, purpose))


def get_for(session: Session, actor: Actor | None, res: Resource, row_id: Any,
            purpose: str = "view") -> Any:
    """The row, or NotFound when it does not exist *or* the actor may not reach it (logged).

    An integer id the id column cannot hold is no row's: not found, and no denial to log."""
    if not storable_int(row_id, res.id):
        raise NotFound()
    row = session.scalar(scope(sa.select(res.model).where(res.id == row_id), actor, res, purpose))
    if row is None:
        if actor is not None and session.scalar(
                sa.select(sa.literal(1)).select_from(res.model).where(res.id == row_id)):
            log_denied(session, actor, f"{res.label} {row_id}: {purpose}")
        raise NotFound()
    return row


def reaches_row(session: Session, actor: Actor | None, res: Resource, row_id: Any,
                purpose: str) -> bool:
    """Does the actor reach this (visible) row for a further purpose? (no logging)"""
    if not storable_int(row_id, res.id):
        return False
    return session.scalar(scope(sa.select(sa.literal(1)).select_from(res.model)
                                .where(res.id == row_id), actor, res, purpose)) is not None


def reaches_values(actor: Actor | None, resource: str, purpose: str, *,
                   region: str | None = None, bank: str | None = None) -> bool:
    """The table applied to a thing that is not a row (a product of a data file, a village about
    to be granted): does one of the role's reaches hold for these values? Only ``all``,
    ``region`` and ``bank`` can be judged without a row."""
    if actor is None:
        return True
    for reach in reaches(resource, purpose, actor.role):
        if reach is Reach.all:
            return True
        if reach is Reach.region and region is not None and region.startswith(
                division_prefix(actor.region_code)):
            return True
        if reach is Reach.bank and bank is not None and actor.bank_code == bank:
            return True
    return False


def allowed(actor: Actor | None, resource: str, purpose: str) -> bool:
    """Does the role reach any row of the resource for the purpose? (a feature gate)"""
    return actor is None or bool(reaches(resource, purpose, actor.role))


def require(actor: Actor | None, resource: str, purpose: str) -> None:
    """Refuse (403) a role that reaches no row of the resource for the purpose at all."""
    if not allowed(actor, resource, purpose):
        raise Forbidden(Message(_("您的角色无权执行此操作")))


# -- subjects --------------------------------------------------------------------------------------
def visible_subjects(actor: Actor, purpose: str = "view") -> sa.ColumnElement[bool]:
    """SQL condition on ``Subject`` true for the subjects the actor may see."""
    return visible(SUBJECTS, actor, purpose)


def scope_subjects(stmt: Select[*Ts], actor: Actor, purpose: str = "view") -> Select[*Ts]:
    return scope(stmt, actor, SUBJECTS, purpose)


def get_subject_for(session: Session, actor: Actor | None, subject_id: int,
                    purpose: str = "view") -> Subject:
    subject: Subject = get_for(session, actor, SUBJECTS, subject_id, purpose)
    return subject


def is_own_household(actor: Actor | None, subject: Subject) -> bool:
    """The actor is the subject's household itself (the farmer's own data)."""
    return actor is not None and actor.subject_id is not None and actor.subject_id in (
        subject.id, subject.household_id)


# -- denials -----------------------------------------------------------------------------------------
def log_denied(session: Session, actor: Actor | None, what: str, client: str | None = None) -> None:
    entry = AccessLog(user_id=actor.id if actor else None,
                      username=actor.username if actor else None,
                      event="denied", detail=what[:300], client=client)
    session.add(entry)
    # The request that is denied usually fails and rolls back; web/deps.get_db writes these again.
    session.info.setdefault("denied", []).append(entry)
