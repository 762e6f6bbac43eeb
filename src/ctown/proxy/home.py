"""The proxy's home (我代理的农户, R-6.3): every household that authorised the proxy, with its
grade and its open items — loan applications in progress, objections open — each counted through
the access layer, so that a mandate that does not cover a thing shows "not covered", not a count.
Open feedback is a layer above and is added by the page (``ctown.feedback.views``).

Four statements whatever the number of households: the mandates, the grades, the applications,
the objections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.policy import mandate_scopes
from ctown.access.scope import Resource, scope
from ctown.accounts.models import User
from ctown.lending.access import APPLICATIONS
from ctown.lending.approval import State as AppState
from ctown.lending.models import LoanApplication
from ctown.privacy.access import OBJECTIONS
from ctown.privacy.models import Objection
from ctown.proxy.service import MandateRow, State, held_mandates
from ctown.registry.models import Subject
from ctown.scoring.access import SUBJECT_GRADES
from ctown.scoring.service import current_grades

#: Applications still moving (not decided, withdrawn or paid out).
IN_PROGRESS = (AppState.review_requested, AppState.submitted, AppState.village_approved,
               AppState.township_approved, AppState.approved, AppState.returned)


@dataclass(frozen=True)
class Card:
    """One household on the proxy's home. ``None`` for a figure the mandate does not cover."""

    row: MandateRow
    grade: str | None
    grade_covered: bool
    applications: int | None
    objections: int | None

    @property
    def household_id(self) -> int:
        return self.row.mandate.subject_id

    @property
    def in_force(self) -> bool:
        return self.row.state is State.in_force


def _covers(row: MandateRow, resource: str, purpose: str = "view") -> bool:
    return row.state is State.in_force and bool(set(row.scopes) & mandate_scopes(resource,
                                                                                  purpose))


def _per_household(session: Session, actor: User, res: Resource, model: type[object],
                   subject: Any, where: sa.ColumnElement[bool],
                   households: list[int]) -> dict[int, int]:
    owner = sa.func.coalesce(Subject.household_id, Subject.id)
    stmt = scope(sa.select(owner, sa.func.count()).select_from(model)
                 .join(Subject, Subject.id == subject), actor, res).where(
        where, owner.in_(households)).group_by(owner)
    return {int(h): int(n) for h, n in session.execute(stmt)}


def cards(session: Session, actor: User) -> list[Card]:
    """The proxy's households, newest mandate first (403 for anyone who holds no mandates)."""
    rows = held_mandates(session, actor)
    live = sorted({r.mandate.subject_id for r in rows if r.state is State.in_force})
    graded = set(session.scalars(scope(sa.select(Subject.id).where(Subject.id.in_(live)),
                                       actor, SUBJECT_GRADES))) if live else set()
    grades = current_grades(session, graded)
    apps = _per_household(session, actor, APPLICATIONS, LoanApplication,
                          LoanApplication.subject_id,
                          LoanApplication.state.in_([s.value for s in IN_PROGRESS]), live)
    objections = _per_household(session, actor, OBJECTIONS, Objection, Objection.subject_id,
                                Objection.status == "open", live)
    out = []
    for r in rows:
        hid = r.mandate.subject_id
        grade = grades.get(hid)
        out.append(Card(r, grade.grade if grade and hid in graded else None,
                        _covers(r, "grade"),
                        apps.get(hid, 0) if _covers(r, "application") else None,
                        objections.get(hid, 0) if _covers(r, "objection") else None))
    return out


def households(session: Session, actor: User) -> list[tuple[int, str]]:
    """(id, name) of the households whose mandate is in force: those the proxy may act for."""
    return [(r.mandate.subject_id, r.household_name) for r in held_mandates(session, actor)
            if r.state is State.in_force]
