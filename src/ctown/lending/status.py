"""Counts for ``ctown status --json`` (deterministic: counts only)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.lending.approval import OPEN_STATES
from ctown.lending.loanbook import NON_PERFORMING
from ctown.lending.models import CreditLine, LineStatus, Loan, LoanApplication, LoanStatus, VillageGrant


def _count(session: Session, stmt: sa.Select[int]) -> int:
    return int(session.scalar(stmt) or 0)


def counts(session: Session) -> dict[str, int]:
    n = sa.func.count()
    out = {
        "lending.applications": _count(session, sa.select(n).select_from(LoanApplication)),
        "lending.applications_open": _count(session, sa.select(n).select_from(LoanApplication)
                                            .where(LoanApplication.state.in_(
                                                sorted(OPEN_STATES)))),
        "lending.loans": _count(session, sa.select(n).select_from(Loan)),
        "lending.loans_active": _count(session, sa.select(n).select_from(Loan)
                                       .where(Loan.status == LoanStatus.active)),
        "lending.loans_non_performing": _count(session, sa.select(n).select_from(Loan).where(
            Loan.status == LoanStatus.active,
            Loan.classification.in_(sorted(NON_PERFORMING)))),
        "lending.village_grants": _count(session, sa.select(n).select_from(VillageGrant)),
        "lending.credit_lines_active": _count(session, sa.select(n).select_from(CreditLine)
                                              .where(CreditLine.status == LineStatus.active)),
    }
    return out
