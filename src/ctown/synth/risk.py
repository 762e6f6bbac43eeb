"""The hidden risk model and the loan history it produces (the generator's truth).

Annual PD is a logistic function of a handful of observable attributes — head's age and education,
land, income, months overdue in the past year, court records, the village review — plus noise.
Borrowers' repayment in the year before the snapshot and their default after it are drawn from it,
so a rating model trained on the feeds can be scored against ``_hidden/outcomes.csv``.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ctown.synth.economy import sigmoid

TARGET_PD = 0.045  # mean annual PD of borrowers: enough defaults to measure AUC on 20,000 households
HISTORY_MONTHS = 12


def month_ends(snapshot: dt.date, months: int) -> list[dt.date]:
    """The last ``months`` month ends up to and including the snapshot's month (oldest first)."""
    out = []
    year, month = snapshot.year, snapshot.month
    for _ in range(months):
        nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
        out.append(nxt - dt.timedelta(days=1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def build_loans(rng: np.random.Generator, eco: pl.DataFrame) -> pl.DataFrame:
    """Borrowers, their loan and their monthly overdue record of the past year; then PD."""
    n = eco.height
    area = (eco["land"] + eco["rented"]).to_numpy()
    age = eco["head_age"].to_numpy()
    p_borrow = sigmoid(-1.1 + 0.35 * np.log1p(area) + 0.5 * (eco["pigs"].to_numpy() > 20)
                       - 0.02 * np.maximum(age - 60, 0))
    borrower = rng.random(n) < p_borrow
    amount = np.round(np.clip(rng.lognormal(np.log(80000), 0.7, n) * (1 + area / 80), 10000,
                              3_000_000), -3)
    term = rng.choice([12, 24, 36], size=n, p=[0.5, 0.3, 0.2])
    age_months = np.minimum(rng.integers(1, 36, n), term - 1)  # months since the loan was made
    second = borrower & (rng.random(n) < 0.18)
    u = eco["u"].to_numpy()
    # Monthly overdue hazard: driven by the hidden trait, income strain and size of the loan.
    strain = np.log(amount / eco["income"].to_numpy())
    p_overdue = sigmoid(-4.6 - 1.1 * u + 0.35 * strain)
    overdue = (rng.random((n, HISTORY_MONTHS)) < p_overdue[:, None]) & borrower[:, None]
    active_from = HISTORY_MONTHS - np.minimum(age_months, HISTORY_MONTHS)
    overdue &= np.arange(HISTORY_MONTHS)[None, :] >= active_from[:, None]
    days = np.where(overdue, np.minimum(rng.geometric(1 / 18, (n, HISTORY_MONTHS)), 400), 0)
    past = overdue.sum(axis=1)
    pd_true = _pd(rng, eco, past, borrower)
    defaulted = borrower & (rng.random(n) < pd_true)
    frame = eco.with_columns(
        borrower=pl.Series(borrower), amount=pl.Series(amount), term=pl.Series(term),
        loan_age=pl.Series(age_months), second_loan=pl.Series(second),
        past_overdue=pl.Series(past), pd=pl.Series(pd_true), defaulted=pl.Series(defaulted))
    return frame.with_columns(overdue_days=pl.Series(days.astype(np.int64)))


def _pd(rng: np.random.Generator, eco: pl.DataFrame, past: np.ndarray,
        borrower: np.ndarray) -> np.ndarray:
    age = eco["head_age"].to_numpy()
    area = (eco["land"] + eco["rented"]).to_numpy()
    court = (eco["court_lost"] | eco["enforced"]).to_numpy()
    z = (0.3 * (age > 65) + 0.25 * (age < 30)
         - 0.15 * eco["head_edu_level"].to_numpy()
         - 0.2 * np.log1p(area)
         - 0.5 * (np.log(eco["income"].to_numpy()) - np.log(80000))
         + 0.6 * np.minimum(past, 6)
         + 1.2 * court
         + 0.35 * (eco["rules"].to_numpy() - 2)
         + rng.normal(0, 0.6, age.size))
    return sigmoid(z + _intercept(z[borrower], TARGET_PD))


def _intercept(z: np.ndarray, target: float) -> float:
    """Bisection for the intercept that gives borrowers the target mean PD (deterministic)."""
    lo, hi = -15.0, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if sigmoid(z + mid).mean() < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2
