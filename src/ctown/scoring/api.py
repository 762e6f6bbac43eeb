"""JSON API of credit evaluation under ``/api/v1/scoring`` (thin: parse, call, answer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.scoring import review, service, tasks
from ctown.scoring.models import GradeRecord, ModelVersion
from ctown.scoring.schemas import GradeOut, RunOut, SignoffIn, VersionOut
from ctown.web.deps import DB, Me, allowed, verify_csrf

router = APIRouter(prefix="/scoring", tags=["scoring"])
#: Scoring the county again is a feature of the county centre (the ``grade`` row, "run").
Runner = Annotated[User, Depends(allowed("grade", "run"))]
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
    return grade_out(service.grade_for(db, user, subject_id))


@router.get("/subjects/{subject_id}/grades", response_model=list[GradeOut])
def subject_history(subject_id: int, user: Me, db: DB) -> list[GradeOut]:
    return [grade_out(r) for r in service.grade_history_for(db, user, subject_id)]


@router.get("/models", response_model=list[VersionOut])
def models(user: Me, db: DB) -> list[VersionOut]:
    return [version_out(db, v) for v in review.versions_for(db, user)]


@router.get("/models/{version_id}/report")
def model_report(version_id: int, user: Me, db: DB) -> dict[str, Any]:
    return service.validation_report_for(db, user, version_id)


@router.post("/models/{version_id}/signoffs", dependencies=CSRF, response_model=VersionOut)
def sign(version_id: int, body: SignoffIn, user: Me, db: DB) -> VersionOut:
    signoff = review.sign_off(db, version_id=version_id, actor=user, statement=body.statement)
    return version_out(db, review.get_version(db, signoff.model_version_id))


@router.post("/models/{version_id}/activate", dependencies=CSRF, response_model=VersionOut)
def activate(version_id: int, user: Me, db: DB) -> VersionOut:
    return version_out(db, review.activate(db, version_id=version_id, actor=user))


@router.post("/models/rollback", dependencies=CSRF, response_model=VersionOut)
def rollback(user: Me, db: DB) -> VersionOut:
    return version_out(db, review.rollback(db, actor=user))


@router.post("/runs", dependencies=CSRF, response_model=RunOut)
def run_all(user: Runner, db: DB) -> RunOut:
    return RunOut(**{k: v for k, v in tasks.score_all(db, user).items()
                     if k in RunOut.model_fields})
