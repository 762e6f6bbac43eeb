"""Tables of financial services (金融服务): applications and their history, loans, instalments,
repayments, whole-village credit lines (整村授信). Notices live in the outbox of ctown.notify."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ctown.db import Base, UTCDateTime, utcnow
from ctown.notify.models import Notification as Notice  # noqa: F401  # moved there (0012_notify)

Money = sa.Numeric(14, 2)
Rate = sa.Numeric(6, 2)


class LoanStatus(StrEnum):
    """Where a loan stands (its five-category classification is :mod:`ctown.lending.loanbook`)."""

    active = "active"            # disbursed, not yet repaid
    closed = "closed"            # repaid by the borrower
    compensated = "compensated"  # the insurer paid a force-majeure default (代偿)


class LineStatus(StrEnum):
    """Where a pre-approved credit line (授信额度) stands."""

    active = "active"
    superseded = "superseded"  # by a later grant of the same product in the village
    revoked = "revoked"


class LoanApplication(Base):
    """A loan application (贷款申请) with its instant decision and its place in the four steps."""

    __tablename__ = "loan_applications"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    product_code: Mapped[str] = mapped_column(sa.String(40), index=True)
    product_version: Mapped[int] = mapped_column(sa.Integer)
    bank_code: Mapped[str] = mapped_column(sa.String(32), index=True)
    village_code: Mapped[str] = mapped_column(sa.String(12), index=True)
    township_code: Mapped[str] = mapped_column(sa.String(12), index=True)
    #: Who filled the form: the farmer, a credit proxy (信用代理员) or the village officer.
    channel: Mapped[str] = mapped_column(sa.String(20))
    submitted_by: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    amount_requested: Mapped[Decimal] = mapped_column(Money)
    term_months: Mapped[int] = mapped_column(sa.Integer)
    method: Mapped[str] = mapped_column(sa.String(20))
    purpose: Mapped[str | None] = mapped_column(sa.String(200))
    collateral_type: Mapped[str | None] = mapped_column(sa.String(40))
    collateral_value: Mapped[Decimal | None] = mapped_column(Money)
    contract_amount: Mapped[Decimal | None] = mapped_column(Money)
    state: Mapped[str] = mapped_column(sa.String(20), index=True)
    # The automated decision, kept as it was given (个人信息保护法 第24条).
    grade: Mapped[str | None] = mapped_column(sa.String(2))
    eligible: Mapped[bool] = mapped_column(sa.Boolean)
    preapproved: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    offer_limit: Mapped[Decimal | None] = mapped_column(Money)
    offer_amount: Mapped[Decimal | None] = mapped_column(Money)
    offer_rate_pct: Mapped[Decimal | None] = mapped_column(Rate)
    guarantor_required: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    reasons: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    #: When the review clock started (submission or resubmission) and its deadline (3 working days).
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    due_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    due_estimated: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    #: Set when the bank approved or the application ended (rejected, withdrawn).
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    #: Bumped by every change through the ORM, which updates only the version it read (optimistic
    #: locking): of two officers acting on the same application at once, one wins and the other
    #: is told (``lending.service.act``), instead of both steps being recorded.
    version: Mapped[int] = mapped_column(sa.Integer, default=1, server_default="1")

    transitions: Mapped[list[Transition]] = relationship(
        back_populates="application", order_by="Transition.id", lazy="selectin")

    __table_args__ = (sa.Index("ix_loan_applications_state_village", "state", "village_code"),)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declared form


class Transition(Base):
    """One step of an application's history: who did what, when and why (append-only)."""

    __tablename__ = "loan_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("loan_applications.id"), index=True)
    action: Mapped[str] = mapped_column(sa.String(20))
    from_state: Mapped[str | None] = mapped_column(sa.String(20))
    to_state: Mapped[str] = mapped_column(sa.String(20))
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    actor_role: Mapped[str] = mapped_column(sa.String(24))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str | None] = mapped_column(sa.String(500))

    application: Mapped[LoanApplication] = relationship(back_populates="transitions")


class Loan(Base):
    """A loan contract (借款合同) after the bank's approval and its disbursement (放款)."""

    __tablename__ = "loans"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_no: Mapped[str] = mapped_column(sa.String(40), unique=True)
    application_id: Mapped[int | None] = mapped_column(sa.ForeignKey("loan_applications.id"),
                                                       unique=True)
    credit_line_id: Mapped[int | None] = mapped_column(sa.ForeignKey("credit_lines.id"),
                                                       index=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    product_code: Mapped[str] = mapped_column(sa.String(40))
    product_kind: Mapped[str] = mapped_column(sa.String(20))
    bank_code: Mapped[str] = mapped_column(sa.String(32), index=True)
    village_code: Mapped[str] = mapped_column(sa.String(12), index=True)
    grade: Mapped[str | None] = mapped_column(sa.String(2))
    principal: Mapped[Decimal] = mapped_column(Money)
    rate_pct: Mapped[Decimal] = mapped_column(Rate)
    term_months: Mapped[int] = mapped_column(sa.Integer)
    method: Mapped[str] = mapped_column(sa.String(20))
    disbursed_on: Mapped[dt.date] = mapped_column(sa.Date)
    disbursed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    #: A :class:`LoanStatus`.
    status: Mapped[str] = mapped_column(sa.String(12), default=LoanStatus.active, index=True)
    outstanding: Mapped[Decimal] = mapped_column(Money)
    overdue_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    days_past_due: Mapped[int] = mapped_column(sa.Integer, default=0)
    #: 五级分类: normal, special_mention, substandard, doubtful, loss.
    classification: Mapped[str] = mapped_column(sa.String(16), default="normal")
    assessed_on: Mapped[dt.date | None] = mapped_column(sa.Date)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    instalments: Mapped[list[Instalment]] = relationship(
        order_by="Instalment.number", lazy="selectin")


class Instalment(Base):
    __tablename__ = "loan_instalments"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(sa.ForeignKey("loans.id"), index=True)
    number: Mapped[int] = mapped_column(sa.Integer)
    due_on: Mapped[dt.date] = mapped_column(sa.Date)
    principal: Mapped[Decimal] = mapped_column(Money)
    interest: Mapped[Decimal] = mapped_column(Money)
    paid: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    paid_on: Mapped[dt.date | None] = mapped_column(sa.Date)

    __table_args__ = (sa.UniqueConstraint("loan_id", "number"),)


class Repayment(Base):
    """Money received on a loan: the borrower's repayment or an insurer's compensation (代偿)."""

    __tablename__ = "loan_repayments"

    id: Mapped[int] = mapped_column(primary_key=True)
    loan_id: Mapped[int] = mapped_column(sa.ForeignKey("loans.id"), index=True)
    paid_on: Mapped[dt.date] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    source: Mapped[str] = mapped_column(sa.String(20))  # borrower | insurer
    note: Mapped[str | None] = mapped_column(sa.String(300))
    recorded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class VillageGrant(Base):
    """One whole-village credit granting (整村授信) batch."""

    __tablename__ = "village_grants"

    id: Mapped[int] = mapped_column(primary_key=True)
    village_code: Mapped[str] = mapped_column(sa.ForeignKey("regions.code"), index=True)
    product_code: Mapped[str] = mapped_column(sa.String(40))
    bank_code: Mapped[str] = mapped_column(sa.String(32))
    granted_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[dt.date] = mapped_column(sa.Date)
    households: Mapped[int] = mapped_column(sa.Integer)
    granted: Mapped[int] = mapped_column(sa.Integer)
    total_limit: Mapped[Decimal] = mapped_column(Money)


class CreditLine(Base):
    """A pre-approved credit line (授信额度) of one household from a village grant."""

    __tablename__ = "credit_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    grant_id: Mapped[int] = mapped_column(sa.ForeignKey("village_grants.id"), index=True)
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("subjects.id"), index=True)
    product_code: Mapped[str] = mapped_column(sa.String(40))
    grade: Mapped[str] = mapped_column(sa.String(2))
    amount: Mapped[Decimal] = mapped_column(Money)
    rate_pct: Mapped[Decimal] = mapped_column(Rate)
    valid_until: Mapped[dt.date] = mapped_column(sa.Date)
    #: A :class:`LineStatus`.
    status: Mapped[str] = mapped_column(sa.String(12), default=LineStatus.active)

    __table_args__ = (sa.Index("ix_credit_lines_subject_product", "subject_id", "product_code"),)

