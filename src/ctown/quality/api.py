"""JSON API of the 三率 figures (mounted under /api/v1)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.quality.schemas import KpiReport
from ctown.quality.service import kpi_for
from ctown.web.deps import DB_SESSION, current_user

router = APIRouter(prefix="/quality", tags=["quality 三率"])


@router.get("/kpi", response_model=KpiReport)
def kpi(db: Annotated[Session, DB_SESSION],
        user: Annotated[User, Depends(current_user)], months: int = 3) -> KpiReport:
    return kpi_for(db, user, load_catalogue(), months=months)
