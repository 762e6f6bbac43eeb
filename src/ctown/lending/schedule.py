"""Instalment schedules (还款计划) in exact money: Decimal yuan, rounded to the fen.

Two methods: equal instalments (等额本息, the same payment each month) and interest first
(先息后本, monthly interest, principal at the end). Each period's interest is rounded half-up to
the fen; the last period takes whatever principal is left, so the principal parts always add up
exactly to the amount lent (the rounding lands in the last instalment, never lost or invented).
Interest uses the monthly rate = annual rate / 12 (the banks' convention for monthly schedules).
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

FEN = Decimal("0.01")


def to_fen(value: Decimal) -> Decimal:
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Instalment:
    number: int
    due_on: dt.date
    principal: Decimal
    interest: Decimal

    @property
    def amount(self) -> Decimal:
        return self.principal + self.interest


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def monthly_rate(annual_rate_pct: Decimal) -> Decimal:
    return annual_rate_pct / Decimal(1200)


def equal_instalment_payment(principal: Decimal, annual_rate_pct: Decimal, months: int) -> Decimal:
    """The monthly payment of 等额本息: P·r(1+r)^n / ((1+r)^n − 1), to the fen."""
    r = monthly_rate(annual_rate_pct)
    if r == 0:
        return to_fen(principal / months)
    growth = (1 + r) ** months
    return to_fen(principal * r * growth / (growth - 1))


def _check(principal: Decimal, annual_rate_pct: Decimal, months: int) -> None:
    if principal <= 0 or principal != to_fen(principal):
        raise ValueError("principal must be a positive amount in fen")
    if months < 1:
        raise ValueError("months must be at least 1")
    if annual_rate_pct < 0:
        raise ValueError("rate must not be negative")


def equal_instalments(principal: Decimal, annual_rate_pct: Decimal, months: int,
                      start: dt.date) -> list[Instalment]:
    _check(principal, annual_rate_pct, months)
    r = monthly_rate(annual_rate_pct)
    payment = equal_instalment_payment(principal, annual_rate_pct, months)
    balance = principal
    rows: list[Instalment] = []
    for n in range(1, months + 1):
        interest = to_fen(balance * r)
        # Last period (or a payment too small to cover interest on tiny loans): clear the balance.
        part = balance if n == months else min(balance, max(payment - interest, Decimal(0)))
        rows.append(Instalment(n, add_months(start, n), part, interest))
        balance -= part
    return rows


def interest_first(principal: Decimal, annual_rate_pct: Decimal, months: int,
                   start: dt.date) -> list[Instalment]:
    _check(principal, annual_rate_pct, months)
    interest = to_fen(principal * monthly_rate(annual_rate_pct))
    return [Instalment(n, add_months(start, n), principal if n == months else Decimal("0.00"),
                       interest) for n in range(1, months + 1)]


def build(method: str, principal: Decimal, annual_rate_pct: Decimal, months: int,
          start: dt.date) -> list[Instalment]:
    if method == "equal_instalment":
        return equal_instalments(principal, annual_rate_pct, months, start)
    if method == "interest_first":
        return interest_first(principal, annual_rate_pct, months, start)
    raise ValueError(f"unknown repayment method {method!r}")


def totals(rows: list[Instalment]) -> dict[str, Decimal]:
    return {"principal": sum((r.principal for r in rows), Decimal("0.00")),
            "interest": sum((r.interest for r in rows), Decimal("0.00")),
            "amount": sum((r.amount for r in rows), Decimal("0.00"))}
