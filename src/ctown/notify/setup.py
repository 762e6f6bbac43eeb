"""Choosing the backends from the settings, once, when the app or the CLI starts.

* The web app: :func:`install_app` (``Capability.install``, called by ``create_app``) builds the
  notifier from the app's settings, keeps it as ``app.state.notifier`` and starts the sender of
  the app's engine; the sender stops with the app.
* The CLI: the root command's callback calls :func:`start_command`, which builds the notifier
  from the settings of the run; ``cli_support.open_database`` calls :func:`attach_command` for the
  command's engine, and its sender is drained and stopped when the command ends.
* Tests and scripts: :func:`notifier_from_settings` and :func:`start`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from ctown.notify import tasks
from ctown.notify.channels import (
    BACKENDS,
    IN_APP,
    SMS,
    VOICE,
    WEBHOOK,
    Backend,
    HttpSmsBackend,
    Notifier,
)
from ctown.settings import Settings, get_settings

if TYPE_CHECKING:
    import typer
    from fastapi import FastAPI


def notifier_from_settings(settings: Settings, **backends: Backend) -> Notifier:
    """Backends per channel from ``sms_backend``, ``voice_backend``, ``webhook_backend``; a
    keyword argument names a channel and hands it a backend object instead (tests)."""
    chosen: dict[str, Backend] = {
        IN_APP: BACKENDS["inbox"](),
        SMS: _http_sms(settings) if settings.sms_backend == "http"
        else BACKENDS[settings.sms_backend](),
        VOICE: BACKENDS[settings.voice_backend](),
        WEBHOOK: BACKENDS[settings.webhook_backend](),
    }
    chosen.update(backends)
    return Notifier(chosen)


def _http_sms(settings: Settings) -> Backend:
    from ctown.crypto import FieldCipher

    return HttpSmsBackend(settings.sms_http_url, settings.sms_http_token,
                          lambda: FieldCipher.load(settings.keyring_path, settings.cipher_suite))


def start(engine: Engine, notifier: Notifier) -> tasks.Sender:
    """Deliver what commits on this engine through this notifier (a sender thread, started by
    the first commit that queued something). ``tasks.uninstall(engine)`` stops it."""
    return tasks.install(engine, notifier)


def install_app(app: FastAPI, settings: Settings) -> None:
    """``create_app``: the app's notifier from its settings, and the sender of its engine."""
    app.state.notifier = notifier_from_settings(settings)
    start(app.state.engine, app.state.notifier)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        from starlette.concurrency import run_in_threadpool

        async with inner(a) as state:
            yield state
            # Deliver what was handed over, then stop (a blocking wait: off the event loop).
            await run_in_threadpool(tasks.uninstall, a.state.engine)

    app.router.lifespan_context = lifespan


@dataclass
class CommandRun:
    """One ``ctown …`` command: the notifier chosen when it started, the engines it opened."""

    notifier: Notifier
    engines: list[Engine] = field(default_factory=list)

    def attach(self, engine: Engine) -> None:
        start(engine, self.notifier)
        self.engines.append(engine)

    def close(self) -> None:
        """Deliver what the command committed before the process ends (a daemon sender would
        die with it, leaving its notices to the next ``ctown notify send``), then stop and
        close the connections the sender opened."""
        global _run
        for engine in self.engines:
            tasks.uninstall(engine)
            engine.dispose()
        if _run is self:
            _run = None


# The command being run: set by the CLI callback when it starts, cleared when it ends. (A
# command's functions open the database without a context to carry it: typer's vendored click
# keeps its context stack private.)
_run: CommandRun | None = None


def start_command(ctx: typer.Context) -> None:
    """The CLI callback: choose the backends of this run from its settings."""
    global _run
    run = _run = CommandRun(notifier_from_settings(get_settings()))
    ctx.call_on_close(run.close)


def attach_command(engine: Engine) -> None:
    """``open_database`` in a CLI run: notices committed on this engine are delivered through
    the run's backends. Outside a ``ctown`` command (a script) nothing is attached and the
    notices wait for ``ctown notify send``."""
    if _run is not None:
        _run.attach(engine)
