"""The inputs of 三率 as Polars frames: the database aggregates first (GROUP BY / DISTINCT), so what
crosses into Python is per village and day, never per value — millions of values stay in SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.catalogue.schemas import Catalogue
from ctown.collection.models import UploadLog
from ctown.ingest.models import Batch, CurrentValue, IndicatorValue
from ctown.quality.models import HealthProbe
from ctown.registry.models import Region, Subject


def _frame(rows: Sequence[Any], schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([tuple(r) for r in rows], schema=schema, orient="row")


def _in_scope(column: Any, prefix: str) -> Any:
    return column.startswith(prefix, autoescape=True) if prefix else sa.true()


def required(catalogue: Catalogue) -> pl.DataFrame:
    """(kind, indicator, department) for every required indicator and the kinds it applies to."""
    rows = [(kind, ind.code, ind.source) for ind in catalogue.indicators.values() if ind.required
            for kind in ind.applies_to]
    return _frame(rows, {"kind": pl.String, "indicator": pl.String, "department": pl.String})


def villages(session: Session, prefix: str) -> pl.DataFrame:
    """Villages in scope with their township (by ``parent_code``) and names."""
    town = sa.orm.aliased(Region)
    rows = session.execute(
        sa.select(Region.code, Region.name, Region.name_en, town.code, town.name, town.name_en)
        .join(town, town.code == Region.parent_code, isouter=True)
        .where(Region.level == "village", _in_scope(Region.code, prefix))
        .order_by(Region.code)).all()
    return _frame(rows, {"village": pl.String, "village_name": pl.String,
                         "village_name_en": pl.String, "township": pl.String,
                         "township_name": pl.String, "township_name_en": pl.String})


def subject_counts(session: Session, prefix: str) -> pl.DataFrame:
    rows = session.execute(
        sa.select(Subject.region_code, Subject.kind, sa.func.count())
        .where(_in_scope(Subject.region_code, prefix))
        .group_by(Subject.region_code, Subject.kind)).all()
    return _frame(rows, {"village": pl.String, "kind": pl.String, "subjects": pl.Int64})


def present_counts(session: Session, prefix: str, codes: list[str]) -> pl.DataFrame:
    """Current values of the required indicators, counted per village, subject kind, indicator."""
    rows = session.execute(
        sa.select(Subject.region_code, Subject.kind, CurrentValue.indicator_code, sa.func.count())
        .join(Subject, Subject.id == CurrentValue.subject_id)
        .where(CurrentValue.indicator_code.in_(codes), _in_scope(Subject.region_code, prefix))
        .group_by(Subject.region_code, Subject.kind, CurrentValue.indicator_code)).all()
    return _frame(rows, {"village": pl.String, "kind": pl.String, "indicator": pl.String,
                         "present": pl.Int64})


def department_days(session: Session, prefix: str, today: dt.date) -> pl.DataFrame:
    """Distinct (department, day) with observed values up to today (days × 12 rows at most)."""
    stmt = (sa.select(IndicatorValue.department, IndicatorValue.observed_on)
            .where(IndicatorValue.observed_on <= today).distinct())
    if prefix:
        stmt = stmt.join(Subject, Subject.id == IndicatorValue.subject_id).where(
            _in_scope(Subject.region_code, prefix))
    return _frame(session.execute(stmt).all(), {"department": pl.String, "day": pl.Date})


def village_days(session: Session, prefix: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Distinct (village, day) with observed values in the window (villages × days rows at most:
    grouping by department too would multiply what crosses into Python by twelve)."""
    rows = session.execute(
        sa.select(Subject.region_code, IndicatorValue.observed_on)
        .join(Subject, Subject.id == IndicatorValue.subject_id)
        .where(IndicatorValue.observed_on.between(start, end),
               _in_scope(Subject.region_code, prefix))
        .distinct()).all()
    return _frame(rows, {"village": pl.String, "day": pl.Date})


def batch_outcomes(session: Session, since: dt.datetime) -> pl.DataFrame:
    rows = session.execute(
        sa.select(Batch.department, Batch.status, sa.func.count())
        .where(Batch.created_at >= since, Batch.status.in_(["done", "failed"]))
        .group_by(Batch.department, Batch.status)).all()
    return _frame(rows, {"department": pl.String, "status": pl.String, "n": pl.Int64})


def upload_outcomes(session: Session, prefix: str, since: dt.datetime) -> pl.DataFrame:
    rows = session.execute(
        sa.select(UploadLog.village_code, UploadLog.code, sa.func.count())
        .where(UploadLog.at >= since, UploadLog.village_code.is_not(None),
               _in_scope(UploadLog.village_code, prefix))
        .group_by(UploadLog.village_code, UploadLog.code)).all()
    return _frame(rows, {"village": pl.String, "code": pl.String, "n": pl.Int64})


def probe_outcomes(session: Session, since: dt.datetime) -> pl.DataFrame:
    rows = session.execute(
        sa.select(HealthProbe.ok, sa.func.count()).where(HealthProbe.at >= since)
        .group_by(HealthProbe.ok)).all()
    return _frame(rows, {"ok": pl.Boolean, "n": pl.Int64})
