"""API shapes of the feeds and the credit file."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from ctown.ingest.readers import LIMITS, json_depth


class PushBatchIn(BaseModel):
    """A department's pushed batch: its own id (a re-send with the same id changes nothing)."""

    batch_id: str = Field(min_length=1, max_length=128)
    rows: list[Any] = Field(max_length=50_000)

    @field_validator("rows")
    @classmethod
    def _flat_enough(cls, rows: list[Any]) -> list[Any]:
        # Refused before any work (422): a row nested beyond the limit is hostile, not data.
        for index, row in enumerate(rows):
            if isinstance(row, dict) and not any(isinstance(v, dict | list)
                                                 for v in row.values()):
                continue  # the usual flat row: no need to walk it
            if json_depth(row) > LIMITS.max_json_depth:
                raise ValueError(f"rows[{index}] nests deeper than {LIMITS.max_json_depth} "
                                 f"levels / 第 {index} 行嵌套超过 {LIMITS.max_json_depth} 层")
        return rows


class RowReason(BaseModel):
    column: str | None
    code: str
    zh: str
    en: str


class RowOutcome(BaseModel):
    index: int
    status: Literal["accepted", "quarantined", "duplicate"]
    reasons: list[RowReason] = []


class PushBatchOut(BaseModel):
    batch_id: str
    department: str
    resent: bool
    received: int
    accepted: int
    quarantined: int
    held: int
    duplicates: int
    held_values: int = 0  # values kept aside until the household's collection consent
    rows: list[RowOutcome]


class ValueOut(BaseModel):
    value: float | str | None
    display: str
    observed_on: dt.date
    department: str
    batch_id: int
    source: str
    recorded_at: dt.datetime


class IndicatorFile(BaseModel):
    code: str
    name_zh: str
    name_en: str
    category: str
    unit: str | None
    #: How the viewer's role sees this indicator's values (the masking table of
    #: ``ctown.masking``); indicators hidden from the role are not in the file at all.
    visibility: Literal["clear", "masked"] = "clear"
    current: ValueOut | None
    history: list[ValueOut]


class CreditFileOut(BaseModel):
    subject_id: int
    kind: str
    name: str
    region_code: str
    as_of: dt.date | None
    catalogue_version: int
    indicators: list[IndicatorFile]
