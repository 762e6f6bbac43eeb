"""The credit report API (信用报告): for a bank officer, under the farmer's consent; a refusal is
answered (403 with the query id), not raised, so that it is committed to the farmer's log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ctown.report import service as report
from ctown.web.deps import DB, Me, locale_of

router = APIRouter(prefix="/privacy", tags=["privacy"])


@router.get("/credit-report/{subject_id}", response_model=None)
def credit_report(subject_id: int, purpose: str, request: Request, user: Me, db: DB
                  ) -> JSONResponse | dict[str, Any]:
    access, body = report.credit_report(db, user, subject_id, purpose, locale_of(request))
    if not access.allowed or body is None:
        assert access.reason is not None
        return JSONResponse({"detail": access.reason.both(), "query_id": access.query.id},
                            status_code=403)
    return {"query_id": access.query.id, "report": body}


@router.get("/provide/{subject_id}", response_model=None)
def provide(subject_id: int, purpose: str, user: Me, db: DB) -> JSONResponse | dict[str, Any]:
    access, rows = report.provide_data(db, user, subject_id, purpose)
    if not access.allowed:
        assert access.reason is not None
        return JSONResponse({"detail": access.reason.both(), "query_id": access.query.id},
                            status_code=403)
    return {"query_id": access.query.id, "values": rows}
