"""``ctown ingest``: load department files; ``ctown ingest quarantine …`` and ``ctown ingest
matches …`` to list, correct and replay what was not accepted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from ctown.i18n import Message, _, translate

if TYPE_CHECKING:  # the click typer vendors, whose Context TyperGroup.parse_args is typed with
    from typer import _click

console = Console(stderr=True)


class _IngestGroup(TyperGroup):
    """``ctown ingest PATH...`` loads; ``ctown ingest quarantine …`` is a sub-command."""

    def parse_args(self, ctx: _click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["load", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(cls=_IngestGroup, no_args_is_help=True,
                  help="部门数据归集 / load department feeds: ctown ingest PATH... [--department] [--json]")
quarantine_app = typer.Typer(no_args_is_help=True, help="隔离区 / quarantined rows")
matches_app = typer.Typer(no_args_is_help=True, help="身份待确认 / identity confirmations")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(matches_app, name="matches")


def register(root: typer.Typer) -> None:
    from ctown.ingest.consent_cli import consent_app
    from ctown.ingest.departments_cli import app as departments_app

    root.add_typer(app, name="ingest")
    root.add_typer(consent_app, name="consent")
    root.add_typer(departments_app, name="departments")


def _open() -> tuple[Any, Any, Any]:
    from ctown.cli_support import open_database
    from ctown.privacy.keyring import open_cipher

    settings, engine, factory = open_database()
    return settings, factory, open_cipher(settings, engine)


@app.command("load")
def load(paths: Annotated[list[Path], typer.Argument(help="files or folders")],
         department: Annotated[str | None, typer.Option("--department", "-d",
                                                        help="department code")] = None,
         as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False) -> None:
    """Load files or a ``ctown synth`` folder (regions, then departments in dependency order)."""
    from ctown.ingest.tasks import PlanError, plan, run

    _settings, factory, cipher = _open()
    try:
        planned, skipped = plan(paths, department.lower() if department else None)
    except PlanError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(2) from None
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} 文件 files"),
                  TextColumn("{task.fields[rows]:,} 行 rows"), TimeElapsedColumn(),
                  console=console, transient=as_json) as bar:
        task = bar.add_task("归集 / ingest", total=len(planned), rows=0)
        rows = [0]

        def hook(item: Any, event: str, n: int) -> None:
            if event == "start":
                bar.update(task, description=f"{item.department or item.kind}: {item.path.name}")
            elif event == "rows":
                rows[0] += n
                bar.update(task, rows=rows[0])
            if event == "end" or (event == "start" and item.kind == "regions"):
                bar.advance(task)

        def waiting() -> None:
            console.print(str(Message(_("该数据库正在进行另一个导入：等它完成后再继续（已导入的文件不会再次导入）"))),
                          highlight=False, soft_wrap=True)

        totals = run(factory, cipher, planned, hook=hook, skipped=skipped, waiting=waiting)
    result = totals.to_json()
    if as_json:
        print(json.dumps(result, ensure_ascii=False, sort_keys=True))
    else:
        _print_summary(result)
    if totals.failed:
        raise typer.Exit(1)


def _print_summary(result: dict[str, Any]) -> None:
    for d in result["details"]:
        line = (f"{d['department']:8} {Path(d['file']).name:40} {d['status']:15} "
                f"收到 {d['received']:>9,}  接收 {d['accepted']:>9,}  隔离 {d['quarantined']:>7,}  "
                f"重复 {d['duplicates']:>7,}")
        console.print(line, highlight=False)
        if d["error"]:
            console.print(f"  [red]{d['error']['zh']} / {d['error']['en']}[/red]", highlight=False)
    for c in result["consents"]["details"]:
        line = (f"{'consents':8} {Path(c['file']).name:40} {c['status']:15} "
                f"收到 {c.get('received', 0):>9,}  授权 {c.get('granted', 0):>9,}  "
                f"隔离 {c.get('quarantined', 0):>7,}  重复 {c.get('duplicates', 0):>7,}")
        console.print(line, highlight=False)
        if c.get("error"):
            console.print(f"  [red]{c['error']['zh']} / {c['error']['en']}[/red]", highlight=False)
    console.print(f"合计 total: received {result['received']:,}, accepted {result['accepted']:,}, "
                  f"quarantined {result['quarantined']:,} (held {result['held']:,}), "
                  f"duplicates {result['duplicates']:,}; values {result['values']:,}, "
                  f"held until consent {result['held_values']:,}", highlight=False)


# -- quarantine --------------------------------------------------------------------------------

@quarantine_app.command("list")
def quarantine_list(department: Annotated[str | None, typer.Option("--department", "-d")] = None,
                    status: Annotated[str, typer.Option(help="open|held|replayed|discarded")] =
                    "open",
                    limit: Annotated[int, typer.Option()] = 50,
                    lang: Annotated[str, typer.Option(help="zh|en")] = "zh",
                    as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List quarantined rows with their reasons."""
    from ctown.db import transaction
    from ctown.ingest.quarantine import list_rows

    _s, factory, cipher = _open()
    with transaction(factory) as session:
        page = list_rows(session, cipher, None, department=department, status=status,
                         limit=limit)
    if as_json:
        print(json.dumps(page, ensure_ascii=False, default=str))
        return
    console.print(translate(_("共 {total} 行"), lang, total=page["total"]), highlight=False)
    for item in page["items"]:
        reasons = "; ".join(r["en" if lang == "en" else "zh"] for r in item["reasons"])
        console.print(f"#{item['id']} {item['department']} {item['source']} "
                      f"row {item['row_no'] or '?'}: {reasons}", highlight=False)
        console.print(f"   {json.dumps(item['row'], ensure_ascii=False)}", highlight=False)


@quarantine_app.command("fix")
def quarantine_fix(row_id: int, changes: Annotated[list[str], typer.Argument(
        help="COLUMN=VALUE (the file's column name)")]) -> None:
    """Correct values of a quarantined row (then replay it)."""
    from ctown.db import transaction
    from ctown.ingest.quarantine import fix_row

    pairs = dict(c.split("=", 1) for c in changes if "=" in c)
    _s, factory, cipher = _open()
    with transaction(factory) as session:
        fix_row(session, cipher, None, row_id, pairs)
    console.print(f"✓ #{row_id} {', '.join(pairs)}", highlight=False)


@quarantine_app.command("replay")
def quarantine_replay(row_ids: Annotated[list[int] | None, typer.Argument()] = None,
                      department: Annotated[str | None, typer.Option("--department", "-d")] =
                      None,
                      as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run quarantined rows through the load again (all open rows of a department, or by id)."""
    from ctown.db import transaction
    from ctown.ingest.quarantine import replay

    _s, factory, cipher = _open()
    with transaction(factory) as session:
        result = replay(session, cipher, None, ids=row_ids or None, department=department)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        console.print(f"replayed {result['received']:,}: accepted {result['accepted']:,}, "
                      f"quarantined {result['quarantined']:,}, duplicates "
                      f"{result['duplicates']:,}", highlight=False)


@quarantine_app.command("discard")
def quarantine_discard(row_ids: list[int]) -> None:
    """Set quarantined rows aside for good (they stay listed as discarded)."""
    from ctown.db import transaction
    from ctown.ingest.quarantine import discard

    _s, factory, _c = _open()
    with transaction(factory) as session:
        n = discard(session, None, row_ids)
    console.print(f"✓ discarded {n}", highlight=False)


# -- identity confirmations -------------------------------------------------------------------

@matches_app.command("list")
def matches_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Rows held because their identifier is invalid but name, birth date and village match."""
    from ctown.db import transaction
    from ctown.ingest.quarantine import list_matches

    _s, factory, cipher = _open()
    with transaction(factory) as session:
        items = list_matches(session, cipher, None)
    if as_json:
        print(json.dumps(items, ensure_ascii=False, default=str))
        return
    for m in items:
        console.print(f"#{m['id']} {m['department']} → subject {m['subject_id']} "
                      f"{m['subject_name']}: {json.dumps(m['row'], ensure_ascii=False)}",
                      highlight=False)


@matches_app.command("confirm")
def matches_confirm(match_id: int) -> None:
    """Confirm that the held row is the matched subject: its values are stored on that subject."""
    _decide(match_id, confirm=True)


@matches_app.command("reject")
def matches_reject(match_id: int) -> None:
    """Not the same person: the row goes back to the quarantine to be corrected."""
    _decide(match_id, confirm=False)


def _decide(match_id: int, *, confirm: bool) -> None:
    from ctown.db import transaction
    from ctown.ingest.quarantine import decide

    _s, factory, cipher = _open()
    with transaction(factory) as session:
        decide(session, cipher, None, match_id, confirm=confirm)
    console.print(f"✓ #{match_id} {'confirmed' if confirm else 'rejected'}", highlight=False)
