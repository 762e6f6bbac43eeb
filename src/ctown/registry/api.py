"""JSON API of the registry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.registry import queries
from ctown.registry.schemas import RegionOut, SubjectOut, SubjectPage
from ctown.registry.service import RegionNode
from ctown.web.deps import DB_SESSION, current_user

router = APIRouter(tags=["registry"])


def _region_out(node: RegionNode) -> RegionOut:
    r = node.region
    return RegionOut(code=r.code, name=r.name, name_en=r.name_en, level=r.level,
                     households=node.households, children=[_region_out(c) for c in node.children])


@router.get("/regions", response_model=list[RegionOut])
def regions(user: User = Depends(current_user), db: Session = DB_SESSION) -> list[RegionOut]:
    return [_region_out(n) for n in queries.regions_for(db, user)]


@router.get("/subjects", response_model=SubjectPage)
def subjects(request: Request, kind: str = "household", q: str = "", region: str = "",
             page: int = 1, user: User = Depends(current_user), db: Session = DB_SESSION
             ) -> SubjectPage:
    return queries.list_subjects(db, user, request.app.state.cipher,
                                 queries.SubjectFilter(kind, q, region, page))


@router.get("/subjects/{subject_id}", response_model=SubjectOut)
def subject(request: Request, subject_id: int, user: User = Depends(current_user),
            db: Session = DB_SESSION) -> SubjectOut:
    return queries.subject_detail(db, user, request.app.state.cipher, subject_id)
