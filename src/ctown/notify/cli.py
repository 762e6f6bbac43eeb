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


@app.command()
def outbox(as_json: Annotated[bool, typer.Option("--json", help="每条一行 JSON / one JSON object "
                                                                "per line")] = False,
           limit: Annotated[int, typer.Option(help="最近多少条 / how many, newest")] = 50,
           channel: Annotated[str | None, typer.Option(help="in_app | sms | voice | webhook")
                              ] = None) -> None:
    """List the newest notices (queued, sent, failed, opted out); numbers masked."""
    from ctown.cli_support import open_database
    from ctown.crypto import FieldCipher
    from ctown.notify.outbox import rows

    settings, engine, factory = open_database()
    cipher = FieldCipher.load(settings.keyring_path, settings.cipher_suite)
    try:
        with factory() as session:
            for row in rows(session, cipher, limit=limit, channel=channel):
                if as_json:
                    typer.echo(json.dumps(row, ensure_ascii=False, sort_keys=True))
                else:
                    typer.echo(f"{row['id']:>6} {row['status']:<9} {row['channel']:<6} "
                               f"{row['to']:<13} {row['text']}")
    finally:
        engine.dispose()
