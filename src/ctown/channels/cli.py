"""``ctown channels …``: the SMS reminders of instalments about to fall due."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

app = typer.Typer(help="短信渠道 / SMS channel", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="channels")


@app.command()
def remind(days: Annotated[int, typer.Option(help="提前几天提醒 / days ahead", min=0, max=30)] = 3,
           today: Annotated[str | None, typer.Option(help="YYYY-MM-DD（默认今天，北京时间）")] = None
           ) -> None:
    """Queue an SMS reminder for each instalment due in DAYS days (opt-outs respected)."""
    from ctown.channels.reminders import queue_due
    from ctown.cli_support import open_database

    try:
        on = dt.date.fromisoformat(today) if today else None
    except ValueError:
        raise typer.BadParameter("日期格式应为 YYYY-MM-DD / expected YYYY-MM-DD") from None
    _settings, engine, factory = open_database()
    try:
        with factory.begin() as session:
            queued = queue_due(session, on, days)
    finally:
        engine.dispose()
    typer.echo(json.dumps({"queued": queued}))
