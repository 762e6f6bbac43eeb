"""``ctown indicators``: list the catalogue, check an edited catalogue file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ctown.catalogue.configfile import ConfigFileError
from ctown.catalogue.schemas import Catalogue, Indicator
from ctown.catalogue.service import load_catalogue, parse_catalogue

app = typer.Typer(help="指标目录 / indicator catalogue", pretty_exceptions_show_locals=False)
console = Console()
err = Console(stderr=True)
_MARK = {True: "✓", False: ""}


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="indicators")


def indicator_dict(ind: Indicator) -> dict[str, object]:
    return ind.model_dump(mode="json", exclude_none=True)


@app.callback(invoke_without_command=True)
def indicators(ctx: typer.Context,
               as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False,
               category: Annotated[str | None, typer.Option("--category", "-c",
                                                            help="only this category, e.g. C05")
                                   ] = None,
               file: Annotated[Path | None, typer.Option("--file", help="catalogue file")] = None,
               ) -> None:
    """List the indicators of the catalogue (指标目录)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        catalogue = load_catalogue(file)
    except ConfigFileError as exc:
        err.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    chosen = [i for i in catalogue.indicators.values() if category in (None, i.category)]
    if category and not chosen:
        err.print(f"[red]未知类别 / unknown category: {category}[/red]", highlight=False)
        raise typer.Exit(1)
    if as_json:
        print(json.dumps({"version": catalogue.version, "sha256": catalogue.sha256,
                          "categories": [c.model_dump() for c in catalogue.categories
                                         if category in (None, c.code)],
                          "indicators": [indicator_dict(i) for i in chosen]},
                         ensure_ascii=False, indent=1))
        return
    console.print(_table(catalogue, chosen))


def _table(catalogue: Catalogue, chosen: list[Indicator]) -> Table:
    # A county office terminal is often 80 columns: then English names, category and frequency
    # are left out (``--json`` has everything).
    wide = console.width >= 120
    table = Table(title=f"{catalogue.title_zh} / {catalogue.title_en} · v{catalogue.version}")
    table.add_column("代码", no_wrap=True)
    names = ["类别", "名称", "name", "类型", "单位", "来源", "敏感度", "频率", "授权", "负面"]
    if not wide:
        names = ["名称", "类型", "单位", "来源", "敏感度", "授权", "负面"]
    for name in names:
        table.add_column(name, no_wrap=name not in ("name", "名称"))
    for ind in chosen:
        cells = {"类别": catalogue.category(ind.category).name_zh, "名称": ind.name_zh,
                 "name": ind.name_en, "类型": ind.type, "单位": ind.unit or "",
                 "来源": ind.source, "敏感度": ind.sensitivity, "频率": ind.frequency,
                 "授权": _MARK[ind.consent_required], "负面": _MARK[ind.negative]}
        table.add_row(ind.code, *(cells[n] for n in names))
    return table


@app.command("check")
def check(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                help="edited catalogue file")]) -> None:
    """Validate an edited catalogue file (file, line and field of the first error)."""
    try:
        catalogue = parse_catalogue(file)
    except ConfigFileError as exc:
        err.print(f"[red]✗ {exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    current = load_catalogue()
    note = ""
    if catalogue.version == current.version and catalogue.sha256 != current.sha256:
        note = (f"；内容与当前 v{current.version} 不同，请提高版本号 / content differs from the "
                f"current v{current.version}: raise the version number")
    console.print(f"✓ {file}: v{catalogue.version}, {len(catalogue.categories)} 类 categories, "
                  f"{len(catalogue.indicators)} 项指标 indicators, sha256 {catalogue.sha256[:12]}"
                  f"{note}", highlight=False)
    if note:
        raise typer.Exit(1)
