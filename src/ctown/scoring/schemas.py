"""Pydantic shapes of the scoring API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel


class GradeOut(BaseModel):
    subject_id: int
    score: int
    grade: str
    pd: float
    reasons: list[dict[str, Any]]
    model_version: str
    scored_at: dt.datetime


class VersionOut(BaseModel):
    id: int
    version: str
    status: str
    algorithm: str
    fingerprint: str
    auc: float | None
    ks: float | None
    created_at: dt.datetime
    activated_at: dt.datetime | None
    missing_signoffs: list[str]


class SignoffIn(BaseModel):
    statement: str = ""


class RunOut(BaseModel):
    run_id: int
    mode: str
    scored: int
    changed: int
    seconds: float
    model_version: str
    grades: dict[str, int]
