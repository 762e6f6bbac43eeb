"""``ctown keys`` (rotation of the field-encryption keys) and ``ctown privacy`` (scheduled work)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from ctown.cli_support import database

keys_app = typer.Typer(help="字段加密密钥 / field-encryption keys", no_args_is_help=True,
                       pretty_exceptions_show_locals=False)
privacy_app = typer.Typer(help="个人信息保护 / privacy tasks", no_args_is_help=True,
                          pretty_exceptions_show_locals=False)


def register(root: typer.Typer) -> None:
    root.add_typer(keys_app, name="keys")
    root.add_typer(privacy_app, name="privacy")


@keys_app.command("init")
def init_cmd() -> None:
    """Make the key ring for a new database and bind the database to it (refused when a ring
    exists or the database already holds encrypted values)."""
    from ctown.privacy.keyring import init_ring

    with database() as (settings, _factory):
        cipher = init_ring(settings)
    print(json.dumps({"keyring": str(settings.keyring_path), "fingerprint": cipher.fingerprint}))


@keys_app.command("rotate")
def rotate_cmd(batch: Annotated[int, typer.Option(help="rows per transaction")] = 1000,
               max_batches: Annotated[int | None, typer.Option(
                   help="stop after this many batches (run again to resume)")] = None) -> None:
    """Add a key version and re-encrypt every encrypted field with it, online and resumable.

    An unfinished earlier rotation is resumed instead of adding yet another version."""
    from ctown.privacy.keyring import open_cipher
    from ctown.privacy.rotation import rotate

    with database() as (settings, factory):
        cipher = open_cipher(settings)
        result = rotate(factory, cipher, batch=batch, max_batches=max_batches)
    print(json.dumps({"active_version": result.active_version, "added": result.added_version,
                      "rewritten": result.rewritten, "remaining": result.remaining,
                      "skipped_concurrent": result.skipped_concurrent,
                      "values_per_version": result.per_version, "complete": result.complete}))
    if not result.complete:
        raise typer.Exit(3)


@keys_app.command("retire")
def retire_cmd() -> None:
    """Retire the old key versions once no stored value uses them (refused, exit 2, naming each
    table.column still under one, until ``ctown keys rotate`` is complete)."""
    from ctown.privacy.keyring import open_cipher
    from ctown.privacy.rotation import retire_unused

    with database() as (settings, factory), factory.begin() as session:
        cipher = open_cipher(settings)
        retired = retire_unused(session, cipher)
        print(json.dumps({"retired": retired, "active_version": cipher.active_version,
                          "versions": cipher.key_versions}))


@keys_app.command("status")
def status_cmd() -> None:
    """Key versions of the ring and how many stored values each one encrypts."""
    from ctown.privacy.keyring import open_cipher
    from ctown.privacy.rotation import version_counts

    with database() as (settings, factory), factory() as session:
        cipher = open_cipher(settings)
        print(json.dumps({"suite": cipher.suite, "fingerprint": cipher.fingerprint,
                          "active_version": cipher.active_version,
                          "versions": cipher.key_versions,
                          "values_per_version": version_counts(session)}))


@privacy_app.command("notify-negatives")
def notify_cmd() -> None:
    """Tell farmers about new negative records before they go live (条例 art. 15)."""
    from ctown.privacy.tasks import notify_negatives

    with database() as (_s, factory), factory.begin() as session:
        print(json.dumps({"notices": notify_negatives(session)}))


@privacy_app.command("purge")
def purge_cmd(today: Annotated[str | None, typer.Option(help="YYYY-MM-DD (default today)")]
              = None) -> None:
    """Delete negative records five years after the behaviour ended (条例 art. 16)."""
    from ctown.privacy.tasks import purge_negatives

    day = dt.date.fromisoformat(today) if today else None
    with database() as (_s, factory), factory.begin() as session:
        print(json.dumps({"deleted": purge_negatives(session, day)}))


@privacy_app.command("overdue")
def overdue_cmd() -> None:
    """Objections not answered within 20 days (exit 1 when there are any)."""
    from ctown.privacy.service import overdue_objections

    with database() as (_s, factory), factory() as session:
        late = overdue_objections(session)
        print(json.dumps([{"id": o.id, "subject_id": o.subject_id, "due_at": o.due_at.isoformat()}
                          for o in late]))
    if late:
        raise typer.Exit(1)
