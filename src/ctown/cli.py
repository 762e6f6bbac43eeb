"""The ``ctown`` command: composes the commands every capability declares (``Capability.cli``)."""

from __future__ import annotations

import copy
import json
import sys
from typing import Annotated, Any

import typer
from rich.markup import escape

from ctown.capabilities import capabilities
from ctown.cli_support import err, finish_ledger, open_database, start_ledger
from ctown.db import DatabaseUnavailable, first_line, outage
from ctown.errors import DomainError
from ctown.i18n import Message, _

app = typer.Typer(help="ctown 信用乡平台 — Credit Township Platform", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
db_app = typer.Typer(help="数据库 / database", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback()
def _start(ctx: typer.Context) -> None:
    # When a command starts, not at import: the notice backends from the settings of the run;
    # open_database() hands them to the sender of the command's engine (ctown.notify.setup).
    from ctown.notify.setup import start_command

    start_command(ctx)
    # Registered after the notices: closed first (LIFO), while the command's engines are open.
    start_ledger()
    ctx.call_on_close(finish_ledger)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the database migrations (Alembic) up to the newest."""
    from ctown.migrate import upgrade

    _settings, engine, _f = open_database()
    upgrade(engine)
    err.print("数据库已是最新 / database is up to date")


@db_app.command("check")
def db_check() -> None:
    """Fail when the models and the migrations disagree."""
    from ctown.migrate import check

    _settings, engine, _f = open_database()
    check(engine)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="JSON output")] = False) -> None:
    """Counts of what the platform holds (subjects, records, batches, quarantined rows…)."""
    from ctown.status import collect

    _settings, _engine, factory = open_database()
    with factory() as session:
        counts = collect(session)
    if as_json:
        print(json.dumps(counts, sort_keys=True, ensure_ascii=False))
        return
    for key, value in sorted(counts.items()):
        print(f"{key:40} {value:>12,}")


@app.command()
def serve(host: Annotated[str | None, typer.Option()] = None,
          port: Annotated[int | None, typer.Option()] = None) -> None:
    """Serve the web interface and API."""
    import uvicorn

    from ctown.app import create_app

    settings, _engine, _f = open_database()
    uvicorn.run(create_app(settings), host=host or settings.host, port=port or settings.port,
                log_level="info", log_config=server_logging(settings.log_format == "json"),
                proxy_headers=False)  # the app trusts only CTOWN_TRUSTED_PROXIES (hardening)


def server_logging(as_json: bool = False) -> dict[str, Any]:
    """uvicorn's logging, with the platform's own loggers (``ctown.*``) on the same console at
    INFO: a notice sent, a job's progress. Every record is redacted (privacy.hardening); with
    ``as_json`` every line, the access log's too, is one JSON object."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["ctown"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    if as_json:
        json_formatter = {"()": "ctown.privacy.hardening.JsonFormatter"}
        config["formatters"] = {"default": json_formatter, "access": json_formatter}
    return config


@app.command()
def demo(port: Annotated[int | None, typer.Option()] = None,
         households: Annotated[int | None, typer.Option(help="demo county size")] = None,
         no_serve: Annotated[bool, typer.Option("--no-serve")] = False) -> None:
    """Build the demo county into the SQLite database (or reuse it) and serve it."""
    from ctown.demo import build_demo

    settings, engine, factory = open_database(check=False)
    if households:
        settings.demo_households = households
    accounts = build_demo(settings, engine, factory)
    print("\n演示账号 / demo accounts (用户名=密码 / username = password):")
    for username, role in accounts:
        print(f"  {username:18} {role}")
    if not no_serve:
        serve(host=None, port=port)


@app.command()
def jobs(crontab: Annotated[bool, typer.Option(
        "--crontab", help="crontab lines of the periodic jobs")] = False) -> None:
    """The scheduled jobs every capability declares (docs/operations.md), or a crontab for them."""
    from ctown.capabilities import jobs as declared

    for cap, job in declared():
        if crontab:
            if job.cron is not None:  # the why on its own line: cron passes the rest to a shell
                print(f"# {cap.name}: {job.why}\n{job.cron} {job.command}")
        else:
            print(f"{job.schedule:18} {job.command:48} {job.why}")


def compose(root: typer.Typer) -> None:
    """Add every capability's commands to the root command (its ``Capability.cli``)."""
    for cap in capabilities():
        register = cap.cli_registration()
        if register is not None:
            register(root)


compose(app)


#: A command interrupted by the database (:func:`ctown.db.outage`).
OUTAGE = _("数据库暂时无法使用（{reason}）：本命令未完成的操作已回滚，数据库恢复后请重新运行同一命令")


def main() -> None:
    try:
        app()
    except DatabaseUnavailable as exc:
        err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        sys.exit(2)
    except DomainError as exc:  # e.g. a key ring that is not the database's: one clear line
        both = exc.message.both()
        err.print(f"[red]{both['zh']} / {both['en']}[/red]", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:
        # The database restarted, went away or stayed locked mid-command: one line, not a
        # traceback. Every command's work is transactional, so running it again is the remedy.
        if not outage(exc):
            raise
        message = Message(OUTAGE, {"reason": first_line(exc)})
        err.print(f"[red]{escape(str(message))}[/red]", highlight=False, soft_wrap=True)
        sys.exit(2)
