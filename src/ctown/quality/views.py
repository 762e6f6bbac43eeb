"""The 三率 page: targets with pass/fail, charts (inline SVG) and the tables behind them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.i18n import _
from ctown.quality import charts
from ctown.quality.service import kpi_for
from ctown.web.deps import DB_SESSION, current_user, locale_of
from ctown.web.templating import render

router = APIRouter()
NAV = [{"href": "/quality", "label": _("三率"), "resource": "quality", "purpose": "view"}]


@router.get("/quality", response_class=HTMLResponse)
def page(request: Request, db: Annotated[Session, DB_SESSION],
         user: Annotated[User, Depends(current_user)], months: int = 3) -> HTMLResponse:
    report = kpi_for(db, user, load_catalogue(), months=months)
    return render(request, "quality/kpi.html", user=user, report=report,
                  charts=charts.build(report, locale_of(request)))
