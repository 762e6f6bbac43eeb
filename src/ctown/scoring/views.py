"""Pages of credit evaluation: a subject's grade with its reasons and history, the county
overview (grade distribution, last run), model versions with the validation report, sign-off,
go-live and rollback forms, and the report as a downloadable file."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ctown.access.scope import get_subject_for
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.i18n import _
from ctown.scoring import report, review, service, tasks
from ctown.scoring.grades import load_grade_table
from ctown.scoring.review import REVIEWERS
from ctown.web.deps import DB, Me, require_roles, verify_csrf
from ctown.web.templating import render

router = APIRouter(prefix="/scoring")
Reviewer = Annotated[User, Depends(require_roles(*REVIEWERS))]
Admin = Annotated[User, Depends(require_roles(Role.county_admin))]
CSRF = [Depends(verify_csrf)]

NAV = [{"href": "/scoring", "label": _("信用评价"), "roles": [r.value for r in REVIEWERS]}]
SUBJECT_LINKS = [{"href": "/scoring/subjects/{id}", "label": _("信用等级与原因"),
                  "kinds": ("household", "entity", "collective")}]


@router.get("", response_class=HTMLResponse)
def overview(request: Request, user: Reviewer, db: DB) -> HTMLResponse:
    live = review.live_version(db)
    return render(request, "scoring/overview.html", user=user,
                  distribution=report.grade_distribution(db), run=tasks.last_run(db),
                  live=live, versions=review.list_versions(db), table=load_grade_table())


@router.get("/subjects/{subject_id}", response_class=HTMLResponse)
def subject(request: Request, subject_id: int, user: Me, db: DB) -> HTMLResponse:
    subj = get_subject_for(db, user, subject_id)
    return render(request, "scoring/subject.html", user=user, subject=subj,
                  grade=service.current_grade(db, subject_id),
                  history=service.grade_history(db, subject_id), table=load_grade_table())


@router.get("/models/{version_id}", response_class=HTMLResponse)
def model(request: Request, version_id: int, user: Reviewer, db: DB) -> HTMLResponse:
    return render(request, "scoring/model.html", user=user,
                  rep=report.validation_report(db, version_id),
                  version=review.get_version(db, version_id),
                  can_sign=user.role in review.SIGNOFF_ROLES,
                  can_activate=user.role in review.ACTIVATE_ROLES)


@router.get("/models/{version_id}/report.json")
def download(version_id: int, user: Reviewer, db: DB) -> Response:
    rep = report.validation_report(db, version_id)
    body = json.dumps(rep, ensure_ascii=False, indent=1)
    name = f"validation-{rep['version']}.json"
    return Response(body, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/models/{version_id}/sign", dependencies=CSRF)
def sign(version_id: int, user: Reviewer, db: DB, statement: str = Form("")) -> Response:
    review.sign_off(db, version_id=version_id, actor=user, statement=statement)
    return RedirectResponse(f"/scoring/models/{version_id}", status_code=303)


@router.post("/models/{version_id}/activate", dependencies=CSRF)
def activate(version_id: int, user: Admin, db: DB) -> Response:
    review.activate(db, version_id=version_id, actor=user)
    return RedirectResponse(f"/scoring/models/{version_id}", status_code=303)


@router.post("/models/rollback", dependencies=CSRF)
def rollback(user: Admin, db: DB) -> Response:
    review.rollback(db, actor=user)
    return RedirectResponse("/scoring", status_code=303)
