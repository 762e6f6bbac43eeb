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


def credit_file(session: Session, subject_id: int, values: dict[str, object], *,
                batch_id: int = 1, observed_on=None, history: bool = True) -> None:
    """Write values straight into the credit file tables (as ingest would)."""
    import datetime as dt

    from ctown.db import utcnow
    from ctown.ingest.models import CurrentValue, IndicatorValue

    day = observed_on or dt.date(2026, 6, 30)
    for code, value in values.items():
        num = float(value) if isinstance(value, (int, float, bool)) else None
        text = value if isinstance(value, str) else None
        common = {"subject_id": subject_id, "indicator_code": code, "value_num": num,
                  "value_text": text, "observed_on": day, "batch_id": batch_id,
                  "department": "bank", "recorded_at": utcnow()}
        if history:
            session.add(IndicatorValue(**common, catalogue_version=1, digest="0" * 64))
        current = session.get(CurrentValue, (subject_id, code))
        if current is None:
            session.add(CurrentValue(**common))
        else:
            current.value_num, current.value_text, current.batch_id = num, text, batch_id
    session.flush()


def monthly(session: Session, subject_id: int, code: str, values: list[float],
            batch_id: int = 1) -> None:
    """Twelve month-end records of one indicator (oldest first), ending 2026-06-30."""
    import datetime as dt

    for i, v in enumerate(values):
        month_end = dt.date(2026, 6, 30) - dt.timedelta(days=30 * (len(values) - 1 - i))
        credit_file(session, subject_id, {code: v}, batch_id=batch_id, observed_on=month_end,
                    history=True)


def person(session: Session, household_id: int, birth_year: int, relation: str = "户主") -> int:
    import datetime as dt

    p = Subject(kind="person", name="张三", region_code=VILLAGE, household_id=household_id,
                relation=relation, birth_date=dt.date(birth_year, 5, 1))
    session.add(p)
    session.flush()
    return p.id
