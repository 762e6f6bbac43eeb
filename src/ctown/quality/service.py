"""The 三率 report (数据采集完整率 / 信息更新及时率 / 系统运行稳定率) and the health probes.

Windows: update timeliness looks at the ``months`` calendar months ending with the month of the
latest observation (data loaded late still counts for the month it describes); stability looks at
the system's own events (batches, uploads, probes) of the last ``months`` months by the clock.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any, cast

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.policy import Reach, reaches
from ctown.access.scope import region_prefix, require
from ctown.accounts.models import User
from ctown.catalogue.schemas import Catalogue
from ctown.i18n import _
from ctown.quality import figures, frames
from ctown.quality.models import HealthProbe
from ctown.quality.schemas import KpiReport, MonthPoint, Target, UnitRow

#: Targets of the work plan: 三率一效 (§7.4, R-8.1) and the update frequencies of §7.2 and §7.3.
COMPLETENESS_TARGET = 0.95
STABILITY_TARGET = 0.99
UPDATES_STAGE2 = 4.0
UPDATES_STAGE3 = 6.0
DEPARTMENTS: dict[str, tuple[str, str]] = {
    "psb": ("公安局户籍", "Public security (household registry)"),
    "nres": ("自然资源局", "Natural resources"), "agri": ("农业农村局", "Agriculture"),
    "samr": ("市场监管局", "Market regulation"), "tax": ("税务局", "Taxation"),
    "court": ("法院", "Court"), "hrss": ("人社局", "Human resources and social security"),
    "civil": ("民政局", "Civil affairs"), "util": ("供电/供水/通信", "Utilities and telecoms"),
    "bank": ("农商银行", "Rural commercial bank"), "insur": ("保险公司", "Insurer"),
    "village": ("村信用评议小组", "Village evaluation group"),
}


def _month_start(day: dt.date, back: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


MAX_MONTHS = 24


def figures_prefix(actor: User | None) -> str:
    """The region whose figures the actor reads (the ``quality`` row of the one table): the
    county's for a county-wide reach, the actor's own region otherwise; 403 for the rest."""
    require(actor, "quality", "view")
    if actor is None or Reach.all in reaches("quality", "view", actor.role):
        return ""
    return region_prefix(actor)


def kpi_for(session: Session, actor: User | None, catalogue: Catalogue, *, months: int = 3,
            now: dt.datetime | None = None) -> KpiReport:
    """The 三率 report of the actor's region, over 1 to 24 months."""
    return kpi_report(session, catalogue, prefix=figures_prefix(actor),
                      months=min(max(months, 1), MAX_MONTHS), now=now)


def kpi_report(session: Session, catalogue: Catalogue, *, prefix: str = "", months: int = 3,
               now: dt.datetime | None = None) -> KpiReport:
    now = now or dt.datetime.now(dt.UTC)
    dept_days = frames.department_days(session, prefix, now.date())
    as_of = dept_days["day"].max() or now.date()  # the latest observation
    assert isinstance(as_of, dt.date)
    start = _month_start(as_of, months - 1)
    month_list = figures.months_between(start, _month_start(as_of))
    since = dt.datetime.combine(_month_start(now.date(), months - 1), dt.time(), dt.UTC)
    dept_days = dept_days.filter(pl.col("day").is_between(start, as_of))

    villages = frames.villages(session, prefix)
    required = frames.required(catalogue)
    slots = figures.completeness_slots(
        frames.subject_counts(session, prefix),
        frames.present_counts(session, prefix, required["indicator"].unique().to_list()),
        required).join(villages.select("village", "township"), on="village", how="left")
    days = frames.village_days(session, prefix, start, as_of).join(
        villages.select("village", "township"), on="village", how="left")
    batches = frames.batch_outcomes(session, since)
    uploads = frames.upload_outcomes(session, prefix, since).join(
        villages.select("village", "township"), on="village", how="left")
    probes = frames.probe_outcomes(session, since)

    units = {
        "department": _departments(slots, dept_days, batches, month_list),
        "township": _regions(villages, "township", slots, days, uploads, month_list),
        "village": _regions(villages, "village", slots, days, uploads, month_list),
    }
    overall = figures.monthly_updates(dept_days.select("day").unique(), [], month_list)
    targets = _targets(slots, overall, figures.overall_stability(batches, uploads, probes))
    return KpiReport(as_of=as_of, window_start=start, months=months, scope=prefix or "*",
                     targets=targets, departments=units["department"],
                     townships=units["township"], villages=units["village"],
                     monthly=[MonthPoint(**row) for row in overall.to_dicts()])


def _targets(slots: pl.DataFrame, overall: pl.DataFrame, stability: tuple[int, int]
             ) -> list[Target]:
    required, present = int(slots["required"].sum()), int(slots["present"].sum())
    completeness = present / required if required else None
    # Polars types mean() as any Python value: of an Int64 column with rows, a float.
    updates = float(cast(float, overall["updates"].mean())) if overall.height else 0.0
    ok, attempts = stability
    share = ok / attempts if attempts else None

    def passed(value: float | None, target: float) -> bool | None:
        return None if value is None else value >= target

    return [
        Target(key="completeness", label=_("数据采集完整率"), value=completeness,
               target=COMPLETENESS_TARGET, unit="share", basis="§7.4 R-8.1",
               passed=passed(completeness, COMPLETENESS_TARGET)),
        Target(key="timeliness_4", label=_("信息更新及时率（月均更新≥4次）"), value=updates,
               target=UPDATES_STAGE2, unit="per_month", basis="§7.2",
               passed=passed(updates, UPDATES_STAGE2)),
        Target(key="timeliness_6", label=_("信息更新及时率（月均更新≥6次）"), value=updates,
               target=UPDATES_STAGE3, unit="per_month", basis="§7.3",
               passed=passed(updates, UPDATES_STAGE3)),
        Target(key="stability", label=_("系统运行稳定率"), value=share, target=STABILITY_TARGET,
               unit="share", basis="§7.4 §9.3 R-8.1", passed=passed(share, STABILITY_TARGET)),
    ]


def _departments(slots: pl.DataFrame, days: pl.DataFrame, batches: pl.DataFrame,
                 months: list[dt.date]) -> list[UnitRow]:
    frame = (pl.DataFrame({"department": list(DEPARTMENTS)})
             .join(figures.completeness_by(slots, "department"), on="department", how="left")
             .join(figures.timeliness_by(days, "department", months), on="department", how="left")
             .join(figures.department_stability(batches), on="department", how="left"))
    return [UnitRow(level="department", code=r["department"], name=DEPARTMENTS[r["department"]][0],
                    name_en=DEPARTMENTS[r["department"]][1], **_figures(r))
            for r in frame.to_dicts()]


def _regions(villages: pl.DataFrame, level: str, slots: pl.DataFrame, days: pl.DataFrame,
             uploads: pl.DataFrame, months: list[dt.date]) -> list[UnitRow]:
    names = (villages.select(pl.col(level).alias("code"), pl.col(f"{level}_name").alias("name"),
                             pl.col(f"{level}_name_en").alias("name_en"),
                             pl.col("township").alias("parent"))
             .unique("code").drop_nulls("code").sort("code"))
    frame = (names
             .join(figures.completeness_by(slots, level).rename({level: "code"}), on="code",
                   how="left")
             .join(figures.timeliness_by(days, level, months).rename({level: "code"}), on="code",
                   how="left")
             .join(figures.upload_stability(uploads, level).rename({level: "code"}), on="code",
                   how="left"))
    return [UnitRow(level=level, code=r["code"], name=r["name"] or r["code"],
                    name_en=r["name_en"] or r["name"] or r["code"],
                    township=r["parent"] if level == "village" else None, **_figures(r))
            for r in frame.to_dicts()]


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {"required": int(row.get("required") or 0), "present": int(row.get("present") or 0),
            "completeness": row.get("completeness"),
            "updates_per_month": float(row.get("updates_per_month") or 0.0),
            "stability": row.get("stability"), "attempts": int(row.get("attempts") or 0)}


# -- health probes ---------------------------------------------------------------------------------

def record_probe(session: Session, *, component: str, ok: bool, latency_ms: int | None,
                 detail: str | None = None) -> HealthProbe:
    probe = HealthProbe(component=component[:40], ok=ok, latency_ms=latency_ms,
                        detail=(detail or "")[:200] or None)
    session.add(probe)
    session.flush()
    return probe


def probe_database(session: Session) -> HealthProbe:
    """Check that the database answers, and record the result (``ctown kpi probe``)."""
    started = time.perf_counter()
    try:
        with session.begin_nested():
            session.execute(sa.text("SELECT 1"))
        ok, detail = True, None
    except sa.exc.SQLAlchemyError as exc:
        ok, detail = False, str(exc).splitlines()[0]
    return record_probe(session, component="database", ok=ok, detail=detail,
                        latency_ms=int((time.perf_counter() - started) * 1000))
