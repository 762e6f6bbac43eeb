"""Small builders shared by the scoring tests (regions, subjects, users without the web)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.accounts.service import create_user
from ctown.registry.models import Region, Subject

COUNTY, TOWN, VILLAGE = "360000000000", "360000001000", "360000001001"


def region(session: Session) -> str:
    if session.get(Region, VILLAGE) is None:
        session.add_all([Region(code=COUNTY, name="测试县", level="county"),
                         Region(code=TOWN, name="测试乡", level="township", parent_code=COUNTY),
                         Region(code=VILLAGE, name="测试村", level="village", parent_code=TOWN)])
        session.flush()
    return VILLAGE


def households(session: Session, n: int, prefix: str = "H") -> list[int]:
    village = region(session)
    subjects = [Subject(kind="household", name=f"户{i}", region_code=village,
                        household_no=f"{prefix}{i:06d}") for i in range(n)]
    session.add_all(subjects)
    session.flush()
    return [s.id for s in subjects]


def user(session: Session, username: str, role: str) -> User:
    region(session)
    return create_user(session, username=username, password=None, role=role,
                       region_code=COUNTY)
