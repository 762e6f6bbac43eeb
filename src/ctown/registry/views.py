"""Pages: home with the region tree, household list and household page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from ctown.access.scope import allowed
from ctown.accounts.models import User
from ctown.registry import queries
from ctown.web.deps import DB_SESSION, current_user
from ctown.web.templating import render

router = APIRouter()


@router.get("/", response_class=HTMLResponse)
def home(request: Request, user: User = Depends(current_user), db: Session = DB_SESSION
         ) -> Response:
    if allowed(user, "farmer_page", "view"):  # the farmer's phone-first home (ctown.farmer)
        return RedirectResponse("/farmer", status_code=303)
    tree, own = queries.home_for(db, user)
    return render(request, "registry/home.html", user=user, tree=tree, own=own)


@router.get("/households", response_class=HTMLResponse)
def households(request: Request, q: str = "", region: str = "", page: int = 1,
               user: User = Depends(current_user), db: Session = DB_SESSION) -> HTMLResponse:
    result = queries.list_subjects(db, user, request.app.state.cipher,
                                   queries.SubjectFilter("household", q, region, page))
    return render(request, "registry/households.html", user=user, result=result, q=q,
                  region=region)


@router.get("/households/{subject_id}", response_class=HTMLResponse)
def household(request: Request, subject_id: int, user: User = Depends(current_user),
              db: Session = DB_SESSION) -> HTMLResponse:
    subject = queries.subject_detail(db, user, request.app.state.cipher, subject_id)
    return render(request, "registry/household.html", user=user, subject=subject)
