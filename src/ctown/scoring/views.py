"""Pages of credit evaluation: a subject's grade with its reasons and history, the county
overview (grade distribution, last run), model versions with the validation report, sign-off,
go-live and rollback forms, and the report as a downloadable file."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctown.accounts.models import User
from ctown.i18n import _
from ctown.scoring import report, review, service, tasks
from ctown.scoring.grades import load_grade_table
from ctown.web.deps import DB, Me, allowed, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/scoring")
#: The county overview (grade distribution, last run) is for those who take part in the review.
Reviewer = Annotated[User, Depends(allowed("model", "view"))]
CSRF = [Depends(verify_csrf)]

NAV = [{"href": "/scoring", "label": _("信用评价"), "resource": "model", "purpose": "view"}]
SUBJECT_LINKS = [{"href": "/scoring/subjects/{id}", "label": _("信用等级与原因"),
                  "kinds": ("household", "entity", "collective"), "resource": "grade",
                  "purpose": "view"}]


@router.get("", response_class=HTMLResponse)
def overview(request: Request, user: Reviewer, db: DB) -> HTMLResponse:
    versions = review.versions_for(db, user)
    return render(request, "scoring/overview.html", user=user,
                  distribution=report.grade_distribution(db), run=tasks.last_run(db),
                  live=review.live_version(db), versions=versions, table=load_grade_table())


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
def subject(request: Request, subject_id: int, user: Me, db: DB) -> HTMLResponse:
    page = service.grade_page(db, user, subject_id)
    return render(request, "scoring/subject.html", user=user, subject=page.subject,
                  grade=page.grade, history=page.history, table=load_grade_table())


@router.get("/models/{version_id}", response_class=HTMLResponse)
def model(request: Request, version_id: int, user: Me, db: DB) -> HTMLResponse:
    page = service.model_page(db, user, version_id)
    return render(request, "scoring/model.html", user=user, rep=page.report,
                  version=page.version, can_sign=page.can_sign, can_activate=page.can_activate)


@router.get("/models/{version_id}/report.json")
def download(version_id: int, user: Me, db: DB) -> Response:
    rep = service.validation_report_for(db, user, version_id)
    body = json.dumps(rep, ensure_ascii=False, indent=1)
    name = f"validation-{rep['version']}.json"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/models/{version_id}/sign", dependencies=CSRF)
def sign(version_id: int, user: Me, db: DB, statement: str = Form("")) -> Response:
    review.sign_off(db, version_id=version_id, actor=user, statement=statement)
    return RedirectResponse(f"/scoring/models/{version_id}", status_code=303)


@router.post("/models/{version_id}/activate", dependencies=CSRF)
def activate(version_id: int, user: Me, db: DB) -> Response:
    review.activate(db, version_id=version_id, actor=user)
    return RedirectResponse(f"/scoring/models/{version_id}", status_code=303)


@router.post("/models/rollback", dependencies=CSRF)
def rollback(user: Me, db: DB) -> Response:
    review.rollback(db, actor=user)
    return RedirectResponse("/scoring", status_code=303)
