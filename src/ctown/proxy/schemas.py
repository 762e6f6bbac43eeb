"""Pydantic in/out of the proxy API (/api/v1/proxy/…)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ctown.proxy.acts import Act
from ctown.proxy.service import Choice, MandateRow

ScopeName = Literal["query", "apply", "consent"]


class MandateIn(BaseModel):
    """A mandate to record at the service point (登记信用代理授权)."""

    model_config = ConfigDict(extra="forbid")

    household_id: int
    proxy_id: int
    scopes: list[ScopeName] = Field(min_length=1, max_length=3)
    #: The last day it is in force (Beijing time): today to one year ahead.
    until: dt.date


class ConfirmIn(BaseModel):
    """The farmer's confirmation: the code they read out, or the signed paper form's number."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, max_length=12)
    paper_ref: str | None = Field(default=None, max_length=40)


class RevokeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Needed when an officer revokes at the service point; the household may leave it out.
    reason: str | None = Field(default=None, max_length=200)


class MandateOut(BaseModel):
    id: int
    household_id: int
    household_name: str
    region_name: str
    proxy_id: int
    proxy_name: str
    scopes: list[str]
    state: str
    granted_at: dt.datetime
    #: The last day in force (Beijing time), and the instant it ends (the next midnight, UTC).
    until: dt.date
    valid_until: dt.datetime
    confirmed_at: dt.datetime | None
    confirmation: str | None
    paper_ref: str | None
    revoked_at: dt.datetime | None
    revoke_reason: str | None

    @classmethod
    def of(cls, row: MandateRow) -> MandateOut:
        m = row.mandate
        return cls(id=m.id, household_id=m.subject_id, household_name=row.household_name,
                   region_name=row.region_name, proxy_id=m.proxy_id, proxy_name=row.proxy_name,
                   scopes=row.scopes, state=row.state.value, granted_at=m.granted_at,
                   until=row.until, valid_until=m.valid_until, confirmed_at=m.confirmed_at,
                   confirmation=m.confirmation, paper_ref=m.paper_ref, revoked_at=m.revoked_at,
                   revoke_reason=m.revoke_reason)


class CodeSentOut(BaseModel):
    mandate_id: int
    expires_at: dt.datetime


class Words(BaseModel):
    zh: str
    en: str


class ActOut(BaseModel):
    at: dt.datetime
    proxy_id: int
    proxy_name: str
    kind: str
    mandate_id: int | None
    text: Words

    @classmethod
    def of(cls, act: Act) -> ActOut:
        return cls(at=act.at, proxy_id=act.proxy_id, proxy_name=act.proxy_name, kind=act.kind,
                   mandate_id=act.mandate_id,
                   text=Words(zh=act.render("zh_Hans"), en=act.render("en")))


class ChoiceOut(BaseModel):
    id: int
    name: str
    detail: str

    @classmethod
    def of(cls, choice: Choice) -> ChoiceOut:
        return cls(id=choice.id, name=choice.name, detail=choice.detail)
