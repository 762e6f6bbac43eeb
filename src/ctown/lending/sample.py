"""A small county for lending's tests and benchmarks (not the demo: that one is synthesised).

Bulk inserts only, so a village of thousands of households is ready in a second. Household heads
get birth dates and grades spread over A1..E2; officers and a proxy are created for each role.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.accounts.models import ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.db import utcnow
from ctown.registry.models import Region, Subject
from ctown.scoring.grades import GRADES
from ctown.scoring.models import GradeRecord

COUNTY, TOWNSHIP, TOWNSHIP2 = "339901000000", "339901001000", "339901002000"
VILLAGE, VILLAGE2, VILLAGE3 = "339901001001", "339901001002", "339901002001"


@dataclass
class County:
    users: dict[str, User] = field(default_factory=dict)
    households: dict[str, list[int]] = field(default_factory=dict)


def _regions(session: Session) -> None:
    if session.get(Region, COUNTY) is not None:
        return
    session.add_all([
        Region(code=COUNTY, name="测试县", level="county"),
        Region(code=TOWNSHIP, name="信用乡", level="township", parent_code=COUNTY),
        Region(code=TOWNSHIP2, name="和美镇", level="township", parent_code=COUNTY),
        Region(code=VILLAGE, name="一村", level="village", parent_code=TOWNSHIP),
        Region(code=VILLAGE2, name="二村", level="village", parent_code=TOWNSHIP),
        Region(code=VILLAGE3, name="三村", level="village", parent_code=TOWNSHIP2)])
    session.flush()


def add_households(session: Session, village: str, count: int, *, seed: int = 7,
                   grades: list[str] | None = None, prefix: str = "T") -> list[int]:
    """``count`` households with a head each; grades cycle through ``grades`` (None = no grade)."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    now = utcnow()
    base = session.scalar(sa.select(sa.func.count()).select_from(Subject)) or 0
    tag = f"{prefix}{village[-6:]}-{base:07d}-"
    rows = [{"kind": "household", "name": f"户{i:05d}", "region_code": village,
             "household_no": f"{tag}{i:05d}", "created_at": now, "updated_at": now}
            for i in range(count)]
    session.execute(sa.insert(Subject), rows)
    ids = list(session.scalars(sa.select(Subject.id).where(
        Subject.household_no.startswith(tag)).order_by(Subject.id)))
    heads = [{"kind": "person", "name": f"张{i:05d}", "region_code": village,
              "household_id": hid, "relation": rules.HEAD, "gender": "M",
              "birth_date": dt.date(1962 + rng.randrange(38), 1 + rng.randrange(12),
                                    1 + rng.randrange(28)), "created_at": now,
              "updated_at": now} for i, hid in enumerate(ids)]
    session.execute(sa.insert(Subject), heads)
    cycle = grades if grades is not None else list(GRADES)
    grade_rows = [{"subject_id": hid, "score": 700 - 20 * GRADES.index(g), "grade": g,
                   "pd": 0.01 * (1 + GRADES.index(g)), "reasons": [],
                   "model_version": "sample", "scored_at": now, "is_current": True}
                  for hid, g in zip(ids, (cycle[i % len(cycle)] for i in range(len(ids))),
                                    strict=True) if g is not None] if cycle else []
    if grade_rows:
        session.execute(sa.insert(GradeRecord), grade_rows)
    return ids


def _user(session: Session, username: str, role: Role, region: str, **kw: object) -> User:
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is None:
        user = User(username=username, display_name=username, role=role, region_code=region,
                    password_hash=None, **kw)
        session.add(user)
        session.flush()
    return user


def build(session: Session, households: int = 12) -> County:
    _regions(session)
    county = County()
    county.households[VILLAGE] = add_households(session, VILLAGE, households,
                                                grades=["A1", "B1", "C1", "E1"])
    county.households[VILLAGE2] = add_households(session, VILLAGE2, 4, grades=["A2"])
    h = county.households[VILLAGE]
    u = county.users
    u["village"] = _user(session, "t_village", Role.village_officer, VILLAGE)
    u["village_b"] = _user(session, "t_village_b", Role.village_officer, VILLAGE)
    u["village2"] = _user(session, "t_village2", Role.village_officer, VILLAGE2)
    u["township"] = _user(session, "t_township", Role.township_officer, TOWNSHIP)
    u["township2"] = _user(session, "t_township2", Role.township_officer, TOWNSHIP2)
    u["bank"] = _user(session, "t_bank", Role.bank_officer, COUNTY, bank_code="RCB")
    u["bank_other"] = _user(session, "t_bank_x", Role.bank_officer, COUNTY, bank_code="XYZ")
    u["admin"] = _user(session, "t_admin", Role.county_admin, COUNTY)
    u["insurer"] = _user(session, "t_insurer", Role.insurer, COUNTY)
    u["farmer"] = _user(session, "t_farmer", Role.farmer, VILLAGE, subject_id=h[0])
    u["farmer_c"] = _user(session, "t_farmer_c", Role.farmer, VILLAGE, subject_id=h[2])
    u["proxy"] = _user(session, "t_proxy", Role.credit_proxy, VILLAGE)
    # The second village officer lives in household h[4] (an A1 household of the village).
    head = session.scalar(sa.select(Subject.id).where(Subject.household_id == h[4]))
    u["relative"] = _user(session, "t_village_rel", Role.village_officer, VILLAGE, subject_id=head)
    # Confirmed on paper at the service point, every scope (ctown.proxy records real ones).
    session.add(ProxyMandate(proxy_id=u["proxy"].id, subject_id=h[1],
                             valid_until=utcnow() + dt.timedelta(days=365),
                             scope_query=True, scope_apply=True, scope_consent=True,
                             recorded_by_id=u["village"].id, confirmed_at=utcnow(),
                             confirmation="paper", paper_ref=f"SAMPLE-{h[1]}"))
    session.flush()
    return county
