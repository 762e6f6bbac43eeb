"""Where lending writes into the credit file (信用档案): repayments and overdues become indicator
values of the borrower (catalogue C05), so the behaviour score sees them (+5 per instalment repaid
on time, §4.2). The one place that calls ``ctown.ingest.service.record_values``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from ctown.accounts.models import User

log = logging.getLogger("ctown.lending")

ON_TIME = "I0507"        # 当期按时还款
OVERDUE_DAYS = "I0504"   # 逾期天数
OVERDUE_AMOUNT = "I0503"  # 逾期金额
CLASSIFICATION = "I0506"  # 贷款五级分类
BALANCE = "I0501"        # 贷款余额
PUNISHED = "I0703"       # 失信被执行人

Value = tuple[int, str, object, dt.date]


def record(session: Session, actor: User | None, values: list[Value], source: str) -> bool:
    """Write values through the ingest service; False when that capability is not installed."""
    if not values:
        return True
    try:
        from ctown.ingest.service import record_values
    except ModuleNotFoundError as exc:
        if exc.name not in ("ctown.ingest.service", "ctown.ingest"):
            raise
        log.warning("credit file not available: %d lending values not recorded", len(values))
        return False
    record_values(session, actor=actor, department="bank", source=source, values=values)
    return True


def punished_flag(subject_id: sa.SQLColumnExpression[int]) -> sa.ColumnElement[bool]:
    """SQL: is this subject on the joint punishment list (失信被执行人, I0703 true)?"""
    from ctown.ingest.models import CurrentValue

    return sa.exists().where(CurrentValue.subject_id == subject_id,
                             CurrentValue.indicator_code == PUNISHED,
                             CurrentValue.value_num > 0)


def punished(session: Session, subject_ids: list[int]) -> set[int]:
    """Subjects on the joint punishment list (失信被执行人, indicator I0703 true)."""
    from ctown.ingest.models import CurrentValue

    out: set[int] = set()
    for i in range(0, len(subject_ids), 5000):
        chunk = subject_ids[i:i + 5000]
        out.update(session.scalars(sa.select(CurrentValue.subject_id).where(
            CurrentValue.indicator_code == PUNISHED, CurrentValue.value_num > 0,
            CurrentValue.subject_id.in_(chunk))))
    return out
