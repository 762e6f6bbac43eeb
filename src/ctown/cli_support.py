"""What every command needs: the database from the settings, one clear line when it fails."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ctown.db import DatabaseUnavailable, check_connection, make_engine, session_factory
from ctown.settings import Settings, get_settings

err = Console(stderr=True)


def open_database(check: bool = True) -> tuple[Settings, Engine, sessionmaker[Session]]:
    """Engine and session factory from the settings; an unreachable database is one clear line."""
    settings = get_settings()
    try:
        engine = make_engine(settings.sqlalchemy_url)
        if check:
            check_connection(engine)
    except DatabaseUnavailable as exc:
        err.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    from ctown.notify.setup import attach_command

    attach_command(engine)  # notices of this command go out through the run's backends
    if _kept is not None:  # in a ``ctown`` command: what it writes goes on the ledger as it commits
        from ctown.ledger import keeping

        keeping.install(engine, settings)
        _kept.append(engine)
    return settings, engine, session_factory(engine)


# The engines of the running ``ctown`` command whose ledger keeper signs a checkpoint when it
# ends; None outside a command (a script calling a command function keeps nothing, as notices).
_kept: list[Engine] | None = None


def start_ledger() -> None:
    """The CLI callback, when a command starts (``finish_ledger`` when it ends)."""
    global _kept
    _kept = []


def finish_ledger() -> None:
    """End of a ``ctown`` command: sign a checkpoint over what it appended (an engine already
    disposed signs through a fresh connection)."""
    global _kept
    from ctown.ledger import keeping

    engines, _kept = _kept or [], None
    for engine in engines:
        keeping.uninstall(engine)


@contextmanager
def database() -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    """Settings and a session factory for one command; the engine is disposed afterwards."""
    settings, engine, factory = open_database()
    try:
        yield settings, factory
    finally:
        engine.dispose()
