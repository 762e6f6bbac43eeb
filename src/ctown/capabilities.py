"""The capability packages, in dependency order. ``app.py``, the root CLI and Alembic compose them.

Each package may provide ``models`` (tables), ``api.router`` (JSON API under /api/v1),
``views.router`` (pages) and ``cli.app`` (a Typer sub-command group).
"""

from __future__ import annotations

import importlib
from types import ModuleType

CAPABILITIES: tuple[str, ...] = (
    "registry",    # regions, subjects, identifiers, change events
    "accounts",    # users, roles, sessions, tokens
    "access",      # the one access layer: who reaches what, for which purpose
    "privacy",     # field encryption, masking, consent, query log
    "catalogue",   # indicator catalogue (信用信息采集规范)
    "ingest",      # department feeds, quarantine, identity resolution, credit file
    "collection",  # village collection points (信用信息采集点), offline signed batches
    "quality",     # data-quality figures (三率)
    "scoring",     # scorecards, learned model, grades, three-party review
    "lending",     # products, applications, four-step approval, loans, 整村授信
    "ledger",      # tamper-evident Merkle log (区块链存证)
    "synth",       # synthetic county generator
)


def optional_module(capability: str, name: str) -> ModuleType | None:
    """Import ``ctown.<capability>.<name>`` if the package has it (a missing one is not an error)."""
    full = f"ctown.{capability}.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as exc:
        if exc.name in (full, f"ctown.{capability}"):
            return None
        raise


def load_all_models() -> None:
    for cap in CAPABILITIES:
        optional_module(cap, "models")
