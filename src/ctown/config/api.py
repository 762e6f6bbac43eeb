"""JSON API of the county's configuration under ``/api/v1/config`` (thin: parse, call, answer).

A configuration that fails its checks is answered 422 with ``problems``: one
``FILE:LINE: field: message`` line each, as ``ctown config check`` prints them.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from ctown import configdir
from ctown.config import service
from ctown.config.schemas import (
    ProposalOut,
    ProposeIn,
    RejectIn,
    RollbackIn,
    VersionOut,
    proposal_out,
    version_out,
)
from ctown.web.deps import DB, Me, verify_csrf

router = APIRouter(prefix="/config", tags=["config"])
CSRF = [Depends(verify_csrf)]


def _invalid(exc: service.ConfigInvalid) -> JSONResponse:
    return JSONResponse({"detail": exc.message.both(), "problems": exc.lines()}, status_code=422)


def _proposal(db: DB, proposal_id: int, user: Me) -> ProposalOut:
    page = service.proposal_page(db, user, proposal_id, configdir.live_dir())
    p = page.proposal
    return proposal_out(p, service.usernames(db, [p.proposed_by_id, p.decided_by_id]),
                        page.changes)


@router.get("/versions", response_model=list[VersionOut])
def versions(user: Me, db: DB) -> list[VersionOut]:
    found = service.versions_for(db, user)
    names = service.usernames(db, [i for v in found for i in (v.proposed_by_id,
                                                              v.approved_by_id)])
    return [version_out(v, names) for v in found]


@router.get("/versions/{number}", response_model=VersionOut)
def version(number: int, user: Me, db: DB) -> VersionOut:
    v = service.get_version_for(db, user, number)
    return version_out(v, service.usernames(db, [v.proposed_by_id, v.approved_by_id]))


@router.get("/proposals", response_model=list[ProposalOut])
def proposals(user: Me, db: DB, status: str | None = None) -> list[ProposalOut]:
    found = service.proposals_for(db, user, status)
    names = service.usernames(db, [i for p in found for i in (p.proposed_by_id,
                                                              p.decided_by_id)])
    return [proposal_out(p, names) for p in found]


@router.get("/proposals/{proposal_id}", response_model=ProposalOut)
def proposal(proposal_id: int, user: Me, db: DB) -> ProposalOut:
    return _proposal(db, proposal_id, user)


@router.post("/proposals", dependencies=CSRF, response_model=ProposalOut, status_code=201)
def propose(body: ProposeIn, user: Me, db: DB) -> ProposalOut | JSONResponse:
    files = {name: text.encode("utf-8") for name, text in body.files.items()}
    try:
        made = service.propose(db, user, files, body.note, folder=configdir.live_dir(),
                               removes=body.remove)
    except service.ConfigInvalid as exc:
        return _invalid(exc)
    return _proposal(db, made.id, user)


@router.post("/proposals/{proposal_id}/approve", dependencies=CSRF, response_model=VersionOut)
def approve(proposal_id: int, user: Me, db: DB) -> VersionOut | JSONResponse:
    try:
        v = service.approve(db, user, proposal_id, folder=configdir.live_dir())
    except service.ConfigInvalid as exc:
        return _invalid(exc)
    return version_out(v, service.usernames(db, [v.proposed_by_id, v.approved_by_id]))


@router.post("/proposals/{proposal_id}/reject", dependencies=CSRF, response_model=ProposalOut)
def reject(proposal_id: int, body: RejectIn, user: Me, db: DB) -> ProposalOut:
    service.reject(db, user, proposal_id, body.reason)
    return _proposal(db, proposal_id, user)


@router.post("/versions/{number}/rollback", dependencies=CSRF, response_model=ProposalOut,
             status_code=201)
def rollback(number: int, body: RollbackIn, user: Me, db: DB) -> ProposalOut | JSONResponse:
    try:
        made = service.propose_rollback(db, user, number, body.note,
                                        folder=configdir.live_dir())
    except service.ConfigInvalid as exc:
        return _invalid(exc)
    return _proposal(db, made.id, user)
