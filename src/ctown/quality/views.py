"""The 三率 page: targets with pass/fail, charts (inline SVG) and the tables behind them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from ctown.access.scope import region_prefix
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.catalogue.service import load_catalogue
from ctown.i18n import _
from ctown.quality import charts
from ctown.quality.service import kpi_report
from ctown.web.deps import get_db, locale_of, require_roles
from ctown.web.templating import render

router = APIRouter()
ROLES = (Role.county_admin, Role.township_officer, Role.village_officer, Role.evaluator)
NAV = [{"href": "/quality", "label": _("三率"), "roles": list(ROLES)}]


@router.get("/quality", response_class=HTMLResponse)
def page(request: Request, db: Annotated[Session, Depends(get_db)],
         user: Annotated[User, Depends(require_roles(*ROLES))], months: int = 3) -> HTMLResponse:
    months = min(max(months, 1), 24)
    report = kpi_report(db, load_catalogue(), prefix=region_prefix(user), months=months)
    return render(request, "quality/kpi.html", user=user, report=report,
                  charts=charts.build(report, locale_of(request)))
