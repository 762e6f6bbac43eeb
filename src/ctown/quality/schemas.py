"""Pydantic out of the 三率 report (``ctown kpi --json``, ``GET /api/v1/quality/kpi``)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel


class Target(BaseModel):
    """One figure against its target from the work plan (R-8.1, §7.2–§7.4)."""

    key: str
    label: str
    value: float | None
    target: float
    unit: Literal["share", "per_month"]
    basis: str
    passed: bool | None


class UnitRow(BaseModel):
    level: Literal["department", "township", "village"]
    code: str
    name: str
    name_en: str
    township: str | None = None
    required: int = 0
    present: int = 0
    completeness: float | None = None
    updates_per_month: float = 0.0
    stability: float | None = None
    attempts: int = 0


class MonthPoint(BaseModel):
    month: dt.date
    updates: int


class KpiReport(BaseModel):
    as_of: dt.date
    window_start: dt.date
    months: int
    scope: str
    targets: list[Target]
    departments: list[UnitRow]
    townships: list[UnitRow]
    villages: list[UnitRow]
    monthly: list[MonthPoint]
