"""Grades of subjects: record one, read the current one(s). A grade change is a registry event.

``record_grade`` / ``current_grade`` / ``current_grades`` are the contract other capabilities use
(lending prices loans by grade). Batch scoring writes through :func:`record_grades_bulk`.

People read grades through the ``*_for`` functions, which take the actor: a subject's grade is
reached as the one table's ``grade`` row says (not found otherwise, the denial logged), and every
look by someone outside the household goes on the farmer's query log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.looks import record_look
from ctown.access.scope import get_for, reaches_row, require
from ctown.db import utcnow
from ctown.errors import Invalid, NotFound
from ctown.i18n import Message, _
from ctown.registry.models import Subject
from ctown.registry.service import change_record, record_change, record_changes
from ctown.scoring import report, review
from ctown.scoring.access import MODELS, SUBJECT_GRADES
from ctown.scoring.grades import GRADES
from ctown.scoring.models import GradeRecord, ModelVersion

if TYPE_CHECKING:
    from ctown.accounts.models import User

SOURCE = "scoring"


def current_grade(session: Session, subject_id: int) -> GradeRecord | None:
    stmt = sa.select(GradeRecord).where(GradeRecord.subject_id == subject_id,
                                        GradeRecord.is_current.is_(True))
    return session.scalars(stmt.order_by(GradeRecord.id.desc()).limit(1)).first()


def current_grades(session: Session, subject_ids: Iterable[int]) -> dict[int, GradeRecord]:
    ids = sorted(set(subject_ids))
    out: dict[int, GradeRecord] = {}
    # Chunks keep the IN list under the bound-parameter limits of both databases.
    for i in range(0, len(ids), 5000):
        stmt = sa.select(GradeRecord).where(GradeRecord.subject_id.in_(ids[i:i + 5000]),
                                            GradeRecord.is_current.is_(True))
        for rec in session.scalars(stmt):
            out[rec.subject_id] = rec
    return out


def _current_rows(session: Session, subject_ids: list[int]) -> dict[int, Any]:
    """id, subject_id, grade, score of the current grades (plain rows, for batch runs)."""
    ids = sorted(set(subject_ids))
    out: dict[int, Any] = {}
    cols = (GradeRecord.id, GradeRecord.subject_id, GradeRecord.grade, GradeRecord.score)
    for i in range(0, len(ids), 5000):
        for row in session.execute(sa.select(*cols).where(
                GradeRecord.subject_id.in_(ids[i:i + 5000]), GradeRecord.is_current.is_(True))):
            out[row.subject_id] = row
    return out


def grade_history(session: Session, subject_id: int, limit: int = 50) -> list[GradeRecord]:
    stmt = (sa.select(GradeRecord).where(GradeRecord.subject_id == subject_id)
            .order_by(GradeRecord.scored_at.desc(), GradeRecord.id.desc()).limit(limit))
    return list(session.scalars(stmt))


# -- grades as people read them ------------------------------------------------------------------
def subject_for_grade(session: Session, actor: User | None, subject_id: int) -> Subject:
    """The subject whose grade the actor may read, else "not found"; the look is logged."""
    subject: Subject = get_for(session, actor, SUBJECT_GRADES, subject_id)
    record_look(session, actor, subject, "grade")
    return subject


def grade_for(session: Session, actor: User | None, subject_id: int) -> GradeRecord:
    """The current grade of a subject the actor reaches ("not found" when it has none)."""
    subject_for_grade(session, actor, subject_id)
    rec = current_grade(session, subject_id)
    if rec is None:
        raise NotFound()
    return rec


def grade_history_for(session: Session, actor: User | None, subject_id: int,
                      limit: int = 50) -> list[GradeRecord]:
    subject_for_grade(session, actor, subject_id)
    return grade_history(session, subject_id, limit)


@dataclass
class GradePage:
    subject: Subject
    grade: GradeRecord | None
    history: list[GradeRecord]


def grade_page(session: Session, actor: User | None, subject_id: int) -> GradePage:
    """A subject's grade with its reasons and history (one look on the query log)."""
    subject = subject_for_grade(session, actor, subject_id)
    return GradePage(subject, current_grade(session, subject_id),
                     grade_history(session, subject_id))


# -- model versions as reviewers read them -------------------------------------------------------
def validation_report_for(session: Session, actor: User | None, version_id: int
                          ) -> dict[str, Any]:
    """The validation report of a version, for those who take part in the review."""
    require(actor, "model", "view")
    review.get_version_for(session, actor, version_id)
    return report.validation_report(session, version_id)


@dataclass
class ModelPage:
    report: dict[str, Any]
    version: ModelVersion
    can_sign: bool
    can_activate: bool


def model_page(session: Session, actor: User | None, version_id: int) -> ModelPage:
    """A version's report and what the actor may do with it (as the one table says)."""
    rep = validation_report_for(session, actor, version_id)
    version = review.get_version(session, version_id)
    return ModelPage(rep, version,
                     can_sign=reaches_row(session, actor, MODELS, version_id, "sign"),
                     can_activate=reaches_row(session, actor, MODELS, version_id, "activate"))


def _check(grade: str, pd: float) -> None:
    if grade not in GRADES:
        raise Invalid(Message(_("等级无效：{grade}"), {"grade": grade}))
    if not 0.0 <= pd <= 1.0:
        raise Invalid(Message(_("违约概率必须在 0 到 1 之间：{pd}"), {"pd": pd}))


def _change_payload(old: GradeRecord | None, grade: str, score: int, version: str
                    ) -> dict[str, Any]:
    return {"from": old.grade if old else None, "to": grade,
            "from_score": old.score if old else None, "to_score": score,
            "model_version": version}


def record_grade(session: Session, *, subject_id: int, score: int, grade: str, pd: float,
                 reasons: list[dict[str, Any]], model_version: str, actor: User | int | None,
                 run_id: int | None = None) -> GradeRecord:
    """Keep the new grade as current (the old one stays in the history); when the grade letter
    changes, write a ``grade`` change event that alerts and notices consume."""
    _check(grade, pd)
    old = current_grade(session, subject_id)
    if old is not None:
        old.is_current = False
    rec = GradeRecord(subject_id=subject_id, score=int(score), grade=grade, pd=float(pd),
                      reasons=reasons, model_version=model_version, scored_at=utcnow(),
                      is_current=True, run_id=run_id)
    session.add(rec)
    session.flush()
    if old is None or old.grade != grade:
        record_change(session, actor=actor, source=SOURCE, action="create" if old is None
                      else "update", entity="grade", subject_id=subject_id,
                      payload=_change_payload(old, grade, int(score), model_version))
    return rec


def record_grades_bulk(session: Session, rows: Sequence[dict[str, Any]], *,
                       actor: User | int | None, run_id: int | None) -> int:
    """Write many grades at once (a scoring run): flips the old current rows, inserts the new
    ones and one change event per changed grade. ``rows``: subject_id, score, grade, pd, reasons,
    model_version. Returns how many grades changed letter."""
    if not rows:
        return 0
    old = _current_rows(session, [r["subject_id"] for r in rows])
    now = utcnow()
    ids = [o.id for o in old.values()]
    for i in range(0, len(ids), 5000):
        # The old rows were read as plain rows, so synchronising the session only touches the
        # grade objects a caller already holds (cheap), and keeps them truthful.
        session.execute(sa.update(GradeRecord).where(GradeRecord.id.in_(ids[i:i + 5000]))
                        .values(is_current=False))
    session.execute(sa.insert(GradeRecord), [
        {**r, "scored_at": now, "is_current": True, "run_id": run_id} for r in rows])
    events = []
    for r in rows:
        o = old.get(r["subject_id"])
        if o is None or o.grade != r["grade"]:
            events.append(change_record(
                actor=actor, source=SOURCE, action="create" if o is None else "update",
                entity="grade", subject_id=r["subject_id"],
                payload=_change_payload(o, r["grade"], r["score"], r["model_version"])))
    record_changes(session, events)
    return len(events)
