"""``ctown notice``: build a village's notice board (信用公示栏) as the county — one village with its
PDF written out, or every village that is due (the scheduled rebuild).

Run by the operator on the server, as the county (no acting user). Each edition is kept in the
database and goes on the ledger as the command commits."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ctown.cli_support import database

app = typer.Typer(help="信用公示栏 / village notice board", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="notice")


@app.command("build")
def build_cmd(village: Annotated[str, typer.Argument(help="12-digit village code")],
              out: Annotated[Path | None, typer.Option(
                  "--out", help="write the edition's PDF here (it is kept either way)")] = None,
              objection_days: Annotated[int, typer.Option(
                  help="objection period printed on the board, days from today")] = 7) -> None:
    """Build a new edition of one village's board now (on demand)."""
    from ctown.errors import DomainError
    from ctown.noticeboard import service

    with database() as (settings, factory), factory.begin() as session:
        try:
            edition = service.build_edition(session, None, village.strip(),
                                            objection_days=objection_days,
                                            sms_number=settings.sms_number or None)
        except DomainError as exc:
            print(str(exc.message), file=sys.stderr)
            raise typer.Exit(2) from None
        data = edition.pdf
        if out is not None:
            out.write_bytes(data)
        print(json.dumps({"edition": edition.id, "village": edition.village_code,
                          "period": edition.period, "named": edition.named,
                          "households": edition.households, "pdf_sha256": edition.pdf_sha256,
                          "content_sha256": edition.content_sha256, "bytes": len(data),
                          "out": str(out) if out else None}, ensure_ascii=False))


@app.command("build-all")
def build_all_cmd(force: Annotated[bool, typer.Option(
        help="a new edition of every village, due or not")] = False) -> None:
    """Build the villages that are due: no edition this month yet, or the latest names a
    household that withdrew its consent. Daily, so a missed day catches up."""
    from rich.progress import Progress

    from ctown.noticeboard import font, service

    font.source_font()  # loaded once (about a second) for every village
    with database() as (settings, factory):
        with factory() as session:
            codes = service.all_villages(session) if force else service.villages_due(session)
            county = service.CountyFigures.compute(session)
        built = []
        with Progress(transient=True) as progress:
            task = progress.add_task("信用公示栏 / notice boards", total=len(codes))
            for code in codes:
                with factory.begin() as session:  # one village at a time: a crash keeps the rest
                    edition = service.build_edition(session, None, code, county=county,
                                                    sms_number=settings.sms_number or None)
                    built.append({"village": code, "edition": edition.id, "named": edition.named})
                progress.advance(task)
    print(json.dumps({"built": len(built), "editions": built}, ensure_ascii=False))

