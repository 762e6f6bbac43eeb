"""Pydantic in/out of the lending API."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The household or entity; a farmer may leave it out (their own household).
    subject_id: int | None = None
    product_code: str = Field(max_length=40)
    amount: Decimal = Field(gt=0, le=500_000, decimal_places=2)
    term_months: int = Field(ge=1, le=36)
    method: str = "equal_instalment"
    purpose: str | None = Field(default=None, max_length=200)
    collateral_type: str | None = Field(default=None, max_length=40)
    collateral_value: Decimal | None = Field(default=None, ge=0, le=100_000_000)
    contract_amount: Decimal | None = Field(default=None, ge=0, le=100_000_000)


class InstalmentOut(BaseModel):
    number: int
    due_on: dt.date
    principal: Decimal
    interest: Decimal
    amount: Decimal
    paid: Decimal | None = None
    paid_on: dt.date | None = None


class OfferOut(BaseModel):
    limit: Decimal
    amount: Decimal
    rate_pct: Decimal
    term_months: int
    method: str
    guarantor_required: bool
    schedule: list[InstalmentOut]


class Text(BaseModel):
    zh: str
    en: str


class DecisionOut(BaseModel):
    application_id: int
    state: str
    eligible: bool
    preapproved: bool
    automated: bool = True
    grade: str | None
    reasons: list[Text]
    offer: OfferOut | None
    due_on: dt.date | None
    #: PIPL art. 24: the applicant may ask a person to review an automated refusal here.
    review_url: str | None


class TransitionOut(BaseModel):
    action: str
    from_state: str | None
    to_state: str
    actor_id: int | None
    actor_role: str
    at: dt.datetime
    reason: str | None


class DeadlineOut(BaseModel):
    due_on: dt.date
    estimated: bool
    left: int
    status: str


class ApplicationOut(BaseModel):
    id: int
    subject_id: int
    product_code: str
    bank_code: str
    village_code: str
    channel: str
    state: str
    amount_requested: Decimal
    term_months: int
    method: str
    grade: str | None
    eligible: bool
    preapproved: bool
    offer_amount: Decimal | None
    offer_rate_pct: Decimal | None
    reasons: list[Text]
    created_at: dt.datetime
    due_on: dt.date | None
    deadline: DeadlineOut | None = None
    transitions: list[TransitionOut] = []


class ActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str
    reason: str | None = Field(default=None, max_length=500)


class LoanOut(BaseModel):
    id: int
    contract_no: str
    subject_id: int
    product_code: str
    bank_code: str
    grade: str | None
    principal: Decimal
    rate_pct: Decimal
    term_months: int
    method: str
    disbursed_on: dt.date
    status: str
    outstanding: Decimal
    overdue_amount: Decimal
    days_past_due: int
    classification: str
    instalments: list[InstalmentOut] = []


class RepayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(gt=0, decimal_places=2)
    paid_on: dt.date | None = None
    note: str | None = Field(default=None, max_length=300)


class CompensateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=2, max_length=300)


class GrantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_code: str = "rcb_credit"


class GrantRowOut(BaseModel):
    subject_id: int
    household_no: str | None
    name: str
    grade: str | None
    eligible: bool
    reason: str
    limit: Decimal | None
    rate: Decimal | None


class PreviewOut(BaseModel):
    village_code: str
    product_code: str
    summary: dict[str, object]
    rows: list[GrantRowOut]


class GrantOut(BaseModel):
    id: int
    village_code: str
    product_code: str
    households: int
    granted: int
    total_limit: Decimal
    valid_until: dt.date
