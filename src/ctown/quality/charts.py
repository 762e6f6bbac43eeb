"""The 三率 page's charts, built from a report (inline SVG, see ``svg``)."""

from __future__ import annotations

from markupsafe import Markup

from ctown.i18n import translate
from ctown.quality import svg
from ctown.quality.schemas import KpiReport, UnitRow
from ctown.quality.service import COMPLETENESS_TARGET, UPDATES_STAGE2, UPDATES_STAGE3


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _name(row: UnitRow, locale: str) -> str:
    return row.name_en if locale == "en" else row.name


def build(report: KpiReport, locale: str) -> dict[str, Markup]:
    def tr(msgid: str) -> str:
        return translate(msgid, locale)

    areas = report.townships if len(report.townships) > 1 else report.villages
    departments = [d for d in report.departments if d.required or d.updates_per_month]
    top_updates = max([d.updates_per_month for d in report.departments] + [UPDATES_STAGE3]) * 1.1
    return {
        "completeness_areas": svg.bars(
            [svg.Bar(_name(r, locale), r.completeness, _pct(r.completeness)) for r in areas],
            target=COMPLETENESS_TARGET, maximum=1.0, title=tr("数据采集完整率")),
        "completeness_departments": svg.bars(
            [svg.Bar(_name(r, locale), r.completeness, _pct(r.completeness))
             for r in departments if r.required],
            target=COMPLETENESS_TARGET, maximum=1.0, title=tr("各部门数据采集完整率")),
        "updates_departments": svg.bars(
            [svg.Bar(_name(r, locale), r.updates_per_month, f"{r.updates_per_month:.1f}")
             for r in departments],
            target=UPDATES_STAGE2, maximum=top_updates, title=tr("各部门月均更新次数")),
        "monthly": svg.line(
            [(p.month.strftime("%Y-%m"), float(p.updates)) for p in report.monthly],
            targets=[UPDATES_STAGE2, UPDATES_STAGE3], title=tr("每月更新次数")),
    }
