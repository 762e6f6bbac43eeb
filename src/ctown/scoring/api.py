"""JSON API of credit evaluation under ``/api/v1/scoring`` (thin: parse, call, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ctown.access.scope import get_subject_for
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.errors import NotFound
from ctown.scoring import report, review, service, tasks
from ctown.scoring.models import GradeRecord, ModelVersion
from ctown.scoring.review import REVIEWERS
from ctown.scoring.schemas import GradeOut, RunOut, SignoffIn, VersionOut
from ctown.web.deps import DB, Me, require_roles, verify_csrf

router = APIRouter(prefix="/scoring", tags=["scoring"])
Reviewer = Annotated[User, Depends(require_roles(*REVIEWERS))]
Admin = Annotated[User, Depends(require_roles(Role.county_admin))]
CSRF = [Depends(verify_csrf)]


def grade_out(rec: GradeRecord) -> GradeOut:
    return GradeOut(subject_id=rec.subject_id, score=rec.score, grade=rec.grade, pd=rec.pd,
                    reasons=rec.reasons, model_version=rec.model_version,
                    scored_at=rec.scored_at)


def version_out(db: Session, v: ModelVersion) -> VersionOut:
    return VersionOut(id=v.id, version=v.version, status=v.status, algorithm=v.algorithm,
                      fingerprint=v.fingerprint, auc=v.metrics.get("auc"),
                      ks=v.metrics.get("ks"), created_at=v.created_at,
                      activated_at=v.activated_at,
                      missing_signoffs=review.missing_signoffs(db, v.id))


@router.get("/subjects/{subject_id}/grade", response_model=GradeOut)
def subject_grade(subject_id: int, user: Me, db: DB) -> GradeOut:
    get_subject_for(db, user, subject_id)
    rec = service.current_grade(db, subject_id)
    if rec is None:
        raise NotFound()
    return grade_out(rec)


@router.get("/subjects/{subject_id}/grades", response_model=list[GradeOut])
def subject_history(subject_id: int, user: Me, db: DB) -> list[GradeOut]:
    get_subject_for(db, user, subject_id)
    return [grade_out(r) for r in service.grade_history(db, subject_id)]


@router.get("/models", response_model=list[VersionOut])
def models(user: Reviewer, db: DB) -> list[VersionOut]:
    return [version_out(db, v) for v in review.list_versions(db)]


@router.get("/models/{version_id}/report")
def model_report(version_id: int, user: Reviewer, db: DB) -> dict[str, Any]:
    return report.validation_report(db, version_id)


@router.post("/models/{version_id}/signoffs", dependencies=CSRF, response_model=VersionOut)
def sign(version_id: int, body: SignoffIn, user: Reviewer, db: DB) -> VersionOut:
    review.sign_off(db, version_id=version_id, actor=user, statement=body.statement)
    return version_out(db, review.get_version(db, version_id))


@router.post("/models/{version_id}/activate", dependencies=CSRF, response_model=VersionOut)
def activate(version_id: int, user: Admin, db: DB) -> VersionOut:
    return version_out(db, review.activate(db, version_id=version_id, actor=user))


@router.post("/models/rollback", dependencies=CSRF, response_model=VersionOut)
def rollback(user: Admin, db: DB) -> VersionOut:
    return version_out(db, review.rollback(db, actor=user))


@router.post("/runs", dependencies=CSRF, response_model=RunOut)
def run_all(user: Admin, db: DB) -> RunOut:
    return RunOut(**{k: v for k, v in tasks.score_all(db, user).items()
                     if k in RunOut.model_fields})
