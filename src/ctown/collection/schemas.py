"""Pydantic in/out of the collection API."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class TerminalIn(BaseModel):
    public_key: str = Field(min_length=40, max_length=64)
    village_code: str = Field(pattern=r"^\d{12}$")
    name: str = Field(default="", max_length=100)


class EnrolIn(BaseModel):
    """A browser enrols itself: the key pair was generated in the browser (WebCrypto)."""

    public_key: str = Field(min_length=40, max_length=64)
    name: str = Field(default="", max_length=100)


class RevokeIn(BaseModel):
    reason: str = Field(default="", max_length=200)


class TerminalOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    village_code: str
    public_key: str
    enrolled_via: str
    registered_at: dt.datetime
    revoked_at: dt.datetime | None
    revoke_reason: str | None
    last_seen_at: dt.datetime | None


class CountyKeyOut(BaseModel):
    public_key: str
    fingerprint: str
    suite: str


class EnrolOut(BaseModel):
    terminal: TerminalOut
    county: CountyKeyOut


class ReceiptOut(BaseModel):
    status: str = "accepted"
    terminal: str
    batch_id: str
    records: int
    accepted: int
    rejected: int
    rejections: list[dict[str, Any]]
    credit_batch_id: int | None


class RefusalOut(BaseModel):
    status: str = "refused"
    code: str
    reason: dict[str, str]
    batch_id: str | None
    already_accepted: bool
