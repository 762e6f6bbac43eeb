"""API shapes of the registry."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel


class RegionOut(BaseModel):
    code: str
    name: str
    name_en: str | None
    level: str
    households: int
    children: list[RegionOut] = []


class MemberOut(BaseModel):
    id: int
    name: str
    relation: str | None
    gender: str | None
    birth_date: dt.date | None
    resident_id: str | None
    phone: str | None


class SubjectOut(BaseModel):
    id: int
    kind: str
    name: str
    region_code: str
    region_name: str
    household_no: str | None = None
    entity_type: str | None = None
    credit_code: str | None = None
    members: list[MemberOut] = []


class SubjectPage(BaseModel):
    total: int
    page: int
    per_page: int
    items: list[SubjectOut]
