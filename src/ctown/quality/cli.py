"""``ctown kpi [--json]``: the 三率 figures; ``ctown kpi probe``: record a health probe."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ctown.cli_support import database

app = typer.Typer(help="数据质量三率 / data-quality figures", invoke_without_command=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="kpi")



@app.callback()
def kpi(ctx: typer.Context,
        as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
        months: Annotated[int, typer.Option("--months", min=1, max=24)] = 3,
        region: Annotated[str, typer.Option("--region", help="区划代码前缀 / code prefix")] = ""
        ) -> None:
    """Completeness, update timeliness and stability, per department, township and village."""
    if ctx.invoked_subcommand is not None:
        return
    from ctown.catalogue.service import load_catalogue
    from ctown.quality.service import kpi_report

    with database() as (_settings, factory), factory() as session:
        report = kpi_report(session, load_catalogue(), prefix=region, months=months)
    if as_json:
        print(json.dumps(report.model_dump(mode="json"), ensure_ascii=False, sort_keys=True))
        return
    _print(report)


def _print(report: Any) -> None:
    from ctown.i18n import translate

    print(f"三率 / data quality — {report.window_start} … {report.as_of}")
    for t in report.targets:
        value = "-" if t.value is None else (
            f"{t.value:.1%}" if t.unit == "share" else f"{t.value:.1f}")
        target = f"{t.target:.0%}" if t.unit == "share" else f"{t.target:g}/mo"
        verdict = {True: "PASS 达标", False: "FAIL 未达标", None: "-"}[t.passed]
        print(f"  {t.label} / {translate(t.label, 'en'):40} {value:>8}  ≥{target:<6} {verdict}")
    for title, rows in (("部门 departments", report.departments),
                        ("乡镇 townships", report.townships), ("村 villages", report.villages)):
        print(f"\n{title}")
        for r in rows:
            comp = "-" if r.completeness is None else f"{r.completeness:.1%}"
            stab = "-" if r.stability is None else f"{r.stability:.1%}"
            print(f"  {r.code:12} {r.name[:14]:14} {comp:>7} "
                  f"{r.updates_per_month:6.1f}/mo {stab:>7}")


@app.command()
def probe(url: Annotated[str | None, typer.Option(
        "--url", help="也检查网页服务 /healthz / also check the web service")] = None) -> None:
    """Check the database (and the web service) and record the result for the stability rate."""
    import time

    from ctown.quality.service import probe_database, record_probe

    with database() as (_settings, factory), factory.begin() as session:
        probes = [probe_database(session)]
        if url:
            import httpx

            started = time.perf_counter()
            try:
                ok = httpx.get(url.rstrip("/") + "/healthz", timeout=10).status_code == 200
                detail = None
            except httpx.HTTPError as exc:
                ok, detail = False, str(exc)
            probes.append(record_probe(session, component="web", ok=ok, detail=detail,
                                       latency_ms=int((time.perf_counter() - started) * 1000)))
        for p in probes:
            print(json.dumps({"component": p.component, "ok": p.ok, "latency_ms": p.latency_ms}))
    if not all(p.ok for p in probes):
        raise typer.Exit(1)
