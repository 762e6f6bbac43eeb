"""``ctown consent …``: the collection-consent register (信息采集授权书) and the values held
until it is on file (授权暂存)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

console = Console(stderr=True)
consent_app = typer.Typer(no_args_is_help=True,
                          help="信息采集授权 / collection consents and held values")


def _open() -> tuple[Any, Any]:
    from ctown.cli_support import open_database
    from ctown.privacy.keyring import open_cipher

    settings, engine, factory = open_database()
    return factory, open_cipher(settings, engine)


@consent_app.command("import")
def import_(paths: Annotated[list[Path], typer.Argument(help="CSV / XLSX consent registers")],
            as_json: Annotated[bool, typer.Option("--json", help="one JSON object")] = False
            ) -> None:
    """Import signed collection consents (身份证号, 签署日期, 授权书编号) and release what they
    unlock; each file in its own transaction."""
    from ctown.db import transaction
    from ctown.errors import DomainError
    from ctown.ingest.consents import import_consents
    from ctown.ingest.readers import ReadError

    factory, cipher = _open()
    results: list[dict[str, Any]] = []
    failed = False
    for path in paths:
        if not path.is_file():
            console.print(f"[red]{path}: 文件不存在 / no such file[/red]", highlight=False)
            raise typer.Exit(2)
        try:
            with transaction(factory) as session:
                results.append({"status": "loaded", **import_consents(session, cipher, path)})
        except (ReadError, DomainError) as exc:
            failed = True
            results.append({"file": str(path), "status": "failed", "error": exc.message.both()})
    keys = ("received", "granted", "duplicates", "quarantined", "released_households",
            "released_values")
    out = {**{k: sum(r.get(k, 0) for r in results) for k in keys}, "files": results}
    if as_json:
        print(json.dumps(out, ensure_ascii=False, sort_keys=True))
    else:
        for r in results:
            for rej in r.get("rejects", [])[:50]:
                reasons = "; ".join(x["zh"] for x in rej["reasons"])
                console.print(f"  {Path(r['file']).name} 第 {rej['row_no']} 行 row: {reasons}",
                              highlight=False)
        console.print(", ".join(f"{k} {out[k]:,}" for k in keys), highlight=False)
    if failed:
        raise typer.Exit(1)


@consent_app.command("release")
def release(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Release the held values of every household that has an active collection consent."""
    from ctown.db import transaction, utcnow
    from ctown.ingest.hold import release as do_release

    factory, cipher = _open()
    with transaction(factory) as session:
        result = do_release(session, cipher, now=utcnow())
    print(json.dumps(result) if as_json else
          f"released {result['values']:,} values of {result['households']:,} households")


@consent_app.command("purge-held")
def purge_held(days: Annotated[int, typer.Option(help="retention period in days")] = 365,
               as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Delete held values older than DAYS whose household never gave its collection consent."""
    from ctown.db import transaction, utcnow
    from ctown.ingest.hold import purge

    factory, _cipher = _open()
    with transaction(factory) as session:
        result = purge(session, now=utcnow(), days=days)
    print(json.dumps(result) if as_json else
          f"purged {result['values']:,} held values of {result['households']:,} households")


@consent_app.command("held")
def held(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """How many values are held, per indicator (counts only)."""
    from ctown.db import transaction
    from ctown.ingest.hold import held_overview

    factory, _cipher = _open()
    with transaction(factory) as session:
        items = held_overview(session, None)
    if as_json:
        print(json.dumps(items))
        return
    for i in items:
        console.print(f"{i['indicator']}  {i['values']:>8,} values  {i['households']:>7,} "
                      "households", highlight=False)
