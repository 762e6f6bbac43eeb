"""The configuration folder of a running app: its settings' ``config_dir`` (:mod:`ctown.configdir`)."""

from __future__ import annotations

from fastapi import FastAPI

from ctown import configdir
from ctown.settings import Settings


def install(app: FastAPI, settings: Settings) -> None:
    """Loaders read the folder the app's settings name (else ``CTOWN_CONFIG_DIR``, as the CLI)."""
    if settings.config_dir is not None:
        configdir.configure(settings.config_dir)
