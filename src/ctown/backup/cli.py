"""``ctown backup DEST`` and ``ctown restore SRC`` (备份与恢复).

The passphrase comes from the first line of standard input (``--passphrase-stdin``) or from
``CTOWN_BACKUP_PASSPHRASE``, never from an argument (``ps`` shows arguments to every user).
Refusals (wrong passphrase, altered archive, non-empty target, …) are one line in Chinese and
English and exit 2; nothing was changed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from ctown.cli_support import err, open_database

PASSPHRASE_ENV = "CTOWN_BACKUP_PASSPHRASE"  # noqa: S105 - the variable's name, not a value

PassphraseStdin = Annotated[bool, typer.Option(
    "--passphrase-stdin", help=f"read the passphrase from standard input (else ${PASSPHRASE_ENV})")]


def register(root: typer.Typer) -> None:
    root.command("backup")(backup_cmd)
    root.command("restore")(restore_cmd)


def _passphrase(from_stdin: bool) -> str:
    from ctown.backup.archive import BackupRefused
    from ctown.i18n import Message, _

    value = sys.stdin.readline().rstrip("\r\n") if from_stdin else os.environ.get(PASSPHRASE_ENV)
    if not value:
        raise BackupRefused(Message(_(
            "需要备份口令：用 --passphrase-stdin 从标准输入读入，或设置环境变量 {env}"),
            {"env": PASSPHRASE_ENV}))
    return value


def backup_cmd(dest: Annotated[Path, typer.Argument(help="archive file, or a folder to put it in")],
               passphrase_stdin: PassphraseStdin = False) -> None:
    """Back up the database and its key files into one encrypted archive, while the server runs."""
    from ctown.backup.service import backup

    passphrase = _passphrase(passphrase_stdin)
    settings, engine, _factory = open_database()
    try:
        result = backup(settings, engine, dest, passphrase)
    finally:
        engine.dispose()
    db = result.manifest["database"]
    err.print(f"备份完成 / backup written: {result.path}", markup=False, highlight=False)
    print(json.dumps({"archive": str(result.path), "kind": db["kind"],
                      "alembic_revision": db["alembic_revision"], "tables": len(db["tables"]),
                      "rows": sum(db["tables"].values()), "key_files": result.manifest["key_files"],
                      "bytes": result.path.stat().st_size}, ensure_ascii=False))


def restore_cmd(src: Annotated[Path, typer.Argument(help="archive made by ctown backup")],
                force: Annotated[bool, typer.Option(
                    "--force", help="replace a database that is not empty")] = False,
                passphrase_stdin: PassphraseStdin = False) -> None:
    """Restore an archive into the (empty) database of CTOWN_DATABASE_URL and its key files into
    CTOWN_VAR_DIR."""
    from ctown.backup.service import restore

    passphrase = _passphrase(passphrase_stdin)
    settings, engine, _factory = open_database()
    try:
        result = restore(settings, engine, src, passphrase, force=force)
    finally:
        engine.dispose()
    db = result.manifest["database"]
    err.print("恢复完成 / restored" + (
        "；请运行 ctown db upgrade / run ctown db upgrade" if result.upgrade_needed else ""))
    print(json.dumps({"created_at": result.manifest["created_at"], "kind": db["kind"],
                      "alembic_revision": db["alembic_revision"],
                      "upgrade_needed": result.upgrade_needed, "tables": len(db["tables"]),
                      "rows": sum(db["tables"].values()), "key_files_written": result.written,
                      "key_files_kept": result.kept}, ensure_ascii=False))
