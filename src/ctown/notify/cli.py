"""``ctown notify …``: deliver what is waiting in the outbox (after a crash, from cron)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

app = typer.Typer(help="通知 / notifications", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="notify")


def send_waiting(retry_failed: bool = False) -> dict[str, Any]:
    """Deliver every committed, due notice through the backends chosen when the command
    started; the shared body of ``ctown notify send`` and ``ctown lending send-notices``."""
    from ctown.cli_support import open_database
    from ctown.notify import tasks
    from ctown.notify.setup import notifier_from_settings

    settings, engine, factory = open_database()
    sender = tasks.sender_for(engine)
    # Without the root command's callback (a sub-app invoked on its own) the same choice, here.
    notifier = sender.notifier if sender is not None else notifier_from_settings(settings)
    try:
        with tasks.sqlite_writer(engine), factory.begin() as session:
            retried = tasks.retry_failed(session) if retry_failed else 0
            result = tasks.deliver(session, notifier)
    finally:
        engine.dispose()
    out: dict[str, Any] = {"sent": result.sent, "failed": result.failed,
                           "gave_up": result.gave_up, "backends": notifier.names()}
    if retry_failed:
        out["retried"] = retried
    return out


@app.command()
def send(retry_failed: Annotated[bool, typer.Option(
        "--retry-failed", help="再试已放弃的通知 / try the given-up notices again")] = False) -> None:
    """Send committed notices that are due (unsent after a crash, or waiting for a retry)."""
    typer.echo(json.dumps(send_waiting(retry_failed), ensure_ascii=False, sort_keys=True))
