"""JSON API of consent and privacy (mounted under /api/v1).

A refused credit-report request is answered 403 *without* raising, so the refused query is
committed with the request and appears in the farmer's query log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from ctown import masking
from ctown.privacy import service
from ctown.privacy.models import AuditEvent, Complaint, Consent, Objection
from ctown.web.deps import DB, Me, verify_csrf

router = APIRouter(prefix="/privacy", tags=["privacy"])
CSRF = [Depends(verify_csrf)]


class ConsentIn(BaseModel):
    subject_id: int
    bank_code: str = Field(min_length=1, max_length=32)
    purpose: str
    scope: str = "query"
    days: int = 90


class ObjectionIn(BaseModel):
    subject_id: int
    indicator_code: str | None = None
    reason: str = Field(min_length=1, max_length=4000)


class ComplaintIn(BaseModel):
    text: str = Field(min_length=1, max_length=4000)
    subject_id: int | None = None


class AnswerIn(BaseModel):
    answer: str = Field(min_length=1, max_length=4000)


def consent_out(c: Consent) -> dict[str, Any]:
    return {"id": c.id, "subject_id": c.subject_id, "bank_code": c.bank_code,
            "purpose": c.purpose, "scope": c.scope, "granted_at": c.granted_at.isoformat(),
            "valid_until": c.valid_until.isoformat(),
            "revoked_at": c.revoked_at.isoformat() if c.revoked_at else None,
            # the signed paper form of a collection consent (scope "collect")
            "form_no": c.form_no, "signed_on": c.signed_on.isoformat() if c.signed_on else None}


def query_out(q: service.LoggedQuery) -> dict[str, Any]:
    return {"id": q.id, "at": q.at.isoformat(), "subject_id": q.subject_id,
            "who": q.actor_name, "institution": q.institution,
            "institution_name": q.institution_name, "role": q.role, "purpose": q.purpose,
            "outcome": q.outcome}


def case_out(x: Objection | Complaint) -> dict[str, Any]:
    out = {"id": x.id, "subject_id": x.subject_id, "status": x.status,
           "due_at": x.due_at.isoformat(), "answer": x.answer,
           "answered_at": x.answered_at.isoformat() if x.answered_at else None}
    if isinstance(x, Objection):
        out |= {"indicator_code": x.indicator_code, "reason": x.reason,
                "raised_at": x.raised_at.isoformat()}
    else:
        out |= {"text": x.text, "created_at": x.created_at.isoformat()}
    return out


def audit_out(e: AuditEvent) -> dict[str, Any]:
    return {"id": e.id, "at": e.at.isoformat(), "actor_id": e.actor_id,
            "actor_role": e.actor_role, "action": e.action, "target": e.target,
            "detail": e.detail}


@router.post("/consents", dependencies=CSRF)
def grant(body: ConsentIn, user: Me, db: DB) -> dict[str, Any]:
    return consent_out(service.grant_consent(db, user, **body.model_dump()))


@router.post("/consents/{consent_id}/revoke", dependencies=CSRF)
def revoke(consent_id: int, user: Me, db: DB) -> dict[str, Any]:
    return consent_out(service.revoke_consent(db, user, consent_id))


@router.get("/consents")
def consents(subject_id: int, user: Me, db: DB) -> list[dict[str, Any]]:
    return [consent_out(c) for c in service.consents_for(db, user, subject_id)]


@router.get("/queries")
def queries(user: Me, db: DB, subject_id: int | None = None) -> list[dict[str, Any]]:
    return [query_out(q) for q in service.queries_for(db, user, subject_id)]


@router.post("/objections", dependencies=CSRF)
def object_to(body: ObjectionIn, user: Me, db: DB) -> dict[str, Any]:
    return case_out(service.raise_objection(db, user, **body.model_dump()))


@router.get("/objections")
def objections(user: Me, db: DB, open_only: bool = False) -> list[dict[str, Any]]:
    return [case_out(o) for o in service.objections_for(db, user, open_only=open_only)]


@router.post("/objections/{objection_id}/answer", dependencies=CSRF)
def answer_objection(objection_id: int, body: AnswerIn, user: Me, db: DB) -> dict[str, Any]:
    return case_out(service.answer_objection(db, user, objection_id, body.answer))


@router.post("/complaints", dependencies=CSRF)
def complain(body: ComplaintIn, user: Me, db: DB) -> dict[str, Any]:
    return case_out(service.file_complaint(db, user, body.text, body.subject_id))


@router.get("/complaints")
def complaints(user: Me, db: DB) -> list[dict[str, Any]]:
    return [case_out(c) for c in service.complaints_for(db, user)]


@router.post("/complaints/{complaint_id}/answer", dependencies=CSRF)
def answer_complaint(complaint_id: int, body: AnswerIn, user: Me, db: DB) -> dict[str, Any]:
    return case_out(service.answer_complaint(db, user, complaint_id, body.answer))


@router.get("/audit")
def audit(user: Me, db: DB, action: str | None = None) -> list[dict[str, Any]]:
    return [audit_out(e) for e in service.audit_events(db, user, action=action)]


@router.get("/policy")
def policy_table(_user: Me) -> list[dict[str, str]]:
    return masking.table()
