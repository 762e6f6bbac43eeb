"""JSON API of the 三率 figures (mounted under /api/v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ctown.access.scope import region_prefix
from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.quality.schemas import KpiReport
from ctown.quality.service import kpi_report
from ctown.quality.views import ROLES
from ctown.web.deps import get_db, require_roles

router = APIRouter(prefix="/quality", tags=["quality 三率"])


@router.get("/kpi", response_model=KpiReport)
def kpi(db: Annotated[Session, Depends(get_db)],
        user: Annotated[User, Depends(require_roles(*ROLES))], months: int = 3) -> KpiReport:
    return kpi_report(db, load_catalogue(), prefix=region_prefix(user),
                      months=min(max(months, 1), 24))
