"""Lending figures (金融服务指标): credit-loan share (信用贷款占比, target ≥35 %, §9.2), approval
time in Chinese working days (median and 95th percentile; target 3, §7.2), NPL ratio (不良贷款率,
target <2 %, §7.3) and loans by grade — for the county and per township, village and bank.

Definitions (so that a county reads the same number the same way):
- credit-loan share = outstanding balance of pure credit loans (no collateral, no guarantor
  enterprise) ÷ outstanding balance of all active loans;
- NPL ratio = outstanding balance of substandard + doubtful + loss loans ÷ all active balance;
- approval time = working days after the (re)submission date up to the bank's approval date,
  both as dates in China (0 = approved the day it was submitted).
"""

from __future__ import annotations

from typing import Any, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.scope import require, visible
from ctown.accounts.models import User
from ctown.lending import workdays
from ctown.lending.access import APPLICATIONS, LOANS
from ctown.lending.approval import Action
from ctown.lending.loanbook import NON_PERFORMING
from ctown.lending.models import Loan, LoanApplication, LoanStatus, Transition
from ctown.registry.models import Region

_LOAN_COLS = {"village": pl.Utf8, "bank": pl.Utf8, "kind": pl.Utf8, "grade": pl.Utf8,
              "outstanding": pl.Float64, "classification": pl.Utf8}


def _filters(actor: User | None) -> tuple[Any, Any]:
    """The loans and applications counted for the actor: their region's, or their bank's."""
    require(actor, "lending_figures", "view")
    return visible(LOANS, actor, "figures"), visible(APPLICATIONS, actor, "figures")


def _loans(session: Session, where: Any) -> pl.DataFrame:
    rows = session.execute(sa.select(Loan.village_code, Loan.bank_code, Loan.product_kind,
                                     Loan.grade, Loan.outstanding, Loan.classification)
                           .where(Loan.status == LoanStatus.active, where)).all()
    frame = pl.DataFrame([(r[0], r[1], r[2], r[3] or "-", float(r[4]), r[5]) for r in rows],
                         schema=_LOAN_COLS, orient="row")
    return frame


def _approvals(session: Session, where: Any) -> pl.DataFrame:
    approved = (sa.select(Transition.application_id, sa.func.max(Transition.at).label("at"))
                .where(Transition.action == Action.bank_approve)
                .group_by(Transition.application_id).subquery())
    rows = session.execute(sa.select(LoanApplication.village_code, LoanApplication.bank_code,
                                     LoanApplication.submitted_at, approved.c.at)
                           .join(approved, approved.c.application_id == LoanApplication.id)
                           .where(where)).all()
    days = []
    for village, bank, submitted, at in rows:
        count, _est = workdays.count_working_days(workdays.local_date(submitted),
                                                  workdays.local_date(at), allow_estimate=True)
        days.append((village, bank, count))
    return pl.DataFrame(days, schema={"village": pl.Utf8, "bank": pl.Utf8, "days": pl.Int64},
                        orient="row")


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _metrics(loans: pl.DataFrame, approvals: pl.DataFrame) -> dict[str, Any]:
    total = float(loans["outstanding"].sum() or 0.0)
    credit = float(loans.filter(pl.col("kind") == "pure_credit")["outstanding"].sum() or 0.0)
    npl = float(loans.filter(pl.col("classification").is_in(sorted(NON_PERFORMING)))
                ["outstanding"].sum() or 0.0)
    by_grade = {g: {"loans": n, "outstanding": round(o, 2)} for g, n, o in
                loans.group_by("grade").agg(pl.len(), pl.col("outstanding").sum())
                .sort("grade").iter_rows()}
    days = approvals["days"]
    return {"loans": loans.height, "outstanding": round(total, 2),
            "credit_loan_share": _ratio(credit, total), "npl_ratio": _ratio(npl, total),
            "approvals": approvals.height,
            # Polars types median() as any Python value, quantile() as float | None: of Int64
            # days with rows, floats.
            "approval_days_median": float(cast(float, days.median())) if len(days) else None,
            "approval_days_p95": (float(cast(float, days.quantile(0.95, "higher"))) if len(days)
                                  else None),
            "by_grade": by_grade}


def _grouped(loans: pl.DataFrame, approvals: pl.DataFrame, key: str, names: dict[str, str]
             ) -> list[dict[str, Any]]:
    keys = sorted(set(loans[key].to_list()) | set(approvals[key].to_list()))
    return [{"code": k, "name": names.get(k, k),
             **_metrics(loans.filter(pl.col(key) == k), approvals.filter(pl.col(key) == k))}
            for k in keys]


def figures(session: Session, actor: User | None = None) -> dict[str, Any]:
    loan_where, app_where = _filters(actor)
    loans, approvals = _loans(session, loan_where), _approvals(session, app_where)
    regions = {c: (n, p) for c, n, p in session.execute(
        sa.select(Region.code, Region.name, Region.parent_code))}
    parent = {c: p or c for c, (_n, p) in regions.items()}
    names = {c: n for c, (n, _p) in regions.items()}
    township = pl.col("village").replace_strict(parent, default=pl.col("village"))
    loans = loans.with_columns(township=township)
    approvals = approvals.with_columns(township=township)
    return {"county": _metrics(loans, approvals),
            "targets": {"credit_loan_share": 0.35, "npl_ratio": 0.02, "approval_days": 3},
            "by_township": _grouped(loans, approvals, "township", names),
            "by_village": _grouped(loans, approvals, "village", names),
            "by_bank": _grouped(loans, approvals, "bank", {})}
