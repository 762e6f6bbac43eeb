"""Small builders for tests: a county with two villages and households with valid resident IDs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.crypto import FieldCipher
from ctown.registry.identifiers import resident_id_check_char
from ctown.registry.tasks import load_regions, upsert_people

COUNTY, TOWNSHIP, TOWNSHIP2 = "330521000000", "330521100000", "330521101000"
VILLAGE_A, VILLAGE_B, VILLAGE_C = "330521100201", "330521100202", "330521101201"

REGIONS = [
    {"code": COUNTY, "name": "德清县", "name_en": "Deqing County", "level": "county",
     "parent_code": ""},
    {"code": TOWNSHIP, "name": "武康镇", "name_en": "Wukang", "level": "township",
     "parent_code": COUNTY},
    {"code": TOWNSHIP2, "name": "乾元镇", "name_en": "Qianyuan", "level": "township",
     "parent_code": COUNTY},
    {"code": VILLAGE_A, "name": "五四村", "name_en": "Wusi", "level": "village",
     "parent_code": TOWNSHIP},
    {"code": VILLAGE_B, "name": "三林村", "name_en": "Sanlin", "level": "village",
     "parent_code": TOWNSHIP},
    {"code": VILLAGE_C, "name": "金火村", "name_en": "Jinhuo", "level": "village",
     "parent_code": TOWNSHIP2},
]


def resident_id(birth: dt.date, seq: int, region: str = "330521") -> str:
    first17 = f"{region}{birth:%Y%m%d}{seq % 1000:03d}"
    return first17 + resident_id_check_char(first17)


def people_frame(households: int, village: str, start: int = 0) -> pl.DataFrame:
    rows = []
    for h in range(start, start + households):
        head_birth = dt.date(1950 + h % 40, 1 + h % 12, 1 + h % 28)
        rows.append({"household_no": f"H{village[-6:]}{h:05d}", "name": f"张{h}",
                     "resident_id": resident_id(head_birth, 2 * h + 1), "relation": "户主",
                     "gender": "M", "birth_date": head_birth, "village_code": village,
                     "phone": f"138{h:08d}"})
        spouse_birth = dt.date(1952 + h % 40, 1 + h % 12, 1 + h % 28)
        rows.append({"household_no": f"H{village[-6:]}{h:05d}", "name": f"李{h}",
                     "resident_id": resident_id(spouse_birth, 2 * h + 2), "relation": "配偶",
                     "gender": "F", "birth_date": spouse_birth, "village_code": village,
                     "phone": None})
    return pl.DataFrame(rows)


@dataclass
class County:
    cipher: FieldCipher
    users: dict[str, User]


def build_county(session: Session, cipher: FieldCipher, households: int = 3,
                 passwords: bool = False) -> County:
    """Passwords (Argon2, ~0.1 s each) only when a test logs in."""
    load_regions(session, REGIONS, source="test")
    upsert_people(session, cipher, people_frame(households, VILLAGE_A), actor=None, source="test")
    upsert_people(session, cipher, people_frame(households, VILLAGE_B, start=100), actor=None,
                  source="test")
    upsert_people(session, cipher, people_frame(households, VILLAGE_C, start=200), actor=None,
                  source="test")
    import sqlalchemy as sa

    from ctown.registry.models import Subject

    farmer_household = session.scalar(sa.select(Subject.id).where(
        Subject.household_no == f"H{VILLAGE_A[-6:]}00000"))
    users = {
        "admin": (Role.county_admin, COUNTY, None),
        "township": (Role.township_officer, TOWNSHIP, None),
        "village": (Role.village_officer, VILLAGE_A, None),
        "village2": (Role.village_officer, VILLAGE_B, None),
        "bank": (Role.bank_officer, COUNTY, None),
        "farmer": (Role.farmer, VILLAGE_A, farmer_household),
        "proxy": (Role.credit_proxy, VILLAGE_A, None),
        "feed": (Role.department_feed, COUNTY, None),
    }
    made = {name: create_user(session, username=name, role=role, region_code=region,
                              password=f"pw-{name}-123" if passwords else None, subject_id=sid)
            for name, (role, region, sid) in users.items()}
    return County(cipher, made)
