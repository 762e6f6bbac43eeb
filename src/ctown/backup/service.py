"""Back up and restore (备份与恢复) a county: its database and the key files that open it.

A backup is taken from a running installation without stopping it, and only with the keys that
belong to the database (the ring bound to it, the ledger key of its log), so an archive made from
the wrong folder is refused rather than discovered useless on the day it is needed. A restore
goes only into an empty database of the same kind (or one the operator names with ``force``),
refuses an archive it cannot trust, and writes the key files into the target's ``var/`` without
replacing different ones. The steps that change anything come after every check.
"""

from __future__ import annotations

import base64
import datetime as dt
import importlib.metadata
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

from ctown.audit import audit
from ctown.backup import databases
from ctown.backup.archive import (
    DATABASE_PARTS,
    KEYS_PART,
    SCRYPT_N,
    BackupRefused,
    Kdf,
    Keys,
    canonical,
    open_archive,
    write_archive,
)
from ctown.collection.keys import KEY_FILE as COLLECTION_KEY
from ctown.db import session_factory, utcnow
from ctown.i18n import Message, _
from ctown.ledger import tasks as ledger_tasks
from ctown.ledger.note import NoteError, Signer
from ctown.ledger.service import KEY_FILE as LEDGER_KEY
from ctown.migrate import alembic_config
from ctown.privacy.keyring import holds_encrypted_values, open_cipher
from ctown.settings import Settings

MIN_PASSPHRASE = 12
SECRET_KEY = "secret.key"  # noqa: S105 - a file name (cookies, CSRF: Settings.secret_key)


def key_files(settings: Settings) -> tuple[str, ...]:
    """The files of ``var/`` a restored installation needs: the field key ring, the ledger's
    signing key, the county's collection key, the cookie secret (docs/operations.md)."""
    return (settings.keyring_path.name, LEDGER_KEY, COLLECTION_KEY, SECRET_KEY)


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    written: list[str] = field(default_factory=list)  # key files written into var/
    kept: list[str] = field(default_factory=list)     # already there, identical
    upgrade_needed: bool = False


# -- backup --------------------------------------------------------------------------------------
def backup(settings: Settings, engine: Engine, dest: Path, passphrase: str, *,
           scrypt_n: int = SCRYPT_N) -> BackupResult:
    """``ctown backup DEST``: one archive of the database and its key files (DEST may be a
    folder: the archive is named by the time)."""
    if len(passphrase) < MIN_PASSPHRASE:
        raise BackupRefused(Message(_("备份口令至少 {n} 个字符"), {"n": MIN_PASSPHRASE}))
    kind = databases.kind_of(settings.sqlalchemy_url)
    databases.preflight(settings.sqlalchemy_url, "pg_dump")
    dest = _destination(dest)
    with engine.connect() as conn:  # before the audit record below: it needs the tables
        if databases.revision(conn) is None:
            raise BackupRefused(Message(_("数据库尚未建立（没有迁移版本），请先运行 ctown db upgrade")))
    files = _key_files(settings)
    fingerprint = _check_keys(settings, engine, files)
    with session_factory(engine).begin() as session:  # before the copy: the archive holds it
        audit(session, None, "backup.create", dest.name, kind=kind)
        # …on the ledger under a signed checkpoint, so the archive's own tree head covers
        # everything in it (and the restored county verifies against it).
        ledger_tasks.append_all(session, settings)
    if LEDGER_KEY not in files:  # the log's first append made its signing key just now
        files = _key_files(settings)
    keys = Keys(passphrase, Kdf.new(scrypt_n))
    with _scratch(settings) as scratch:
        found = databases.dump(settings.sqlalchemy_url, scratch / "database")
        if found.fingerprint not in (None, fingerprint):
            raise BackupRefused(Message(_("备份期间密钥环绑定发生了变化，请重新备份")))
        manifest = {
            "created_at": utcnow().isoformat(), "ctown_version": _version(),
            "database": {"kind": kind, "alembic_revision": found.revision,
                         "tables": found.tables, "keyring_fingerprint": found.fingerprint,
                         "ledger_vkey": found.ledger_vkey},
            "key_files": sorted(files)}
        payload = canonical({n: base64.b64encode(b).decode() for n, b in files.items()})
        manifest = write_archive(dest, keys, (DATABASE_PARTS[kind], scratch / "database"),
                                 payload, manifest)
    return BackupResult(dest, manifest)


def _key_files(settings: Settings) -> dict[str, bytes]:
    return {n: p.read_bytes() for n in key_files(settings) if (p := settings.var_dir / n).is_file()}


def _destination(dest: Path) -> Path:
    if dest.is_dir():
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        dest = dest / f"ctown-backup-{stamp}.tar"
    if dest.exists():
        raise BackupRefused(Message(_("{path} 已存在，不会覆盖"), {"path": str(dest)}))
    if not dest.parent.is_dir():
        raise BackupRefused(Message(_("目录 {path} 不存在"), {"path": str(dest.parent)}))
    return dest


def _check_keys(settings: Settings, engine: Engine, files: dict[str, bytes]) -> str | None:
    """The key files must be the database's: the ring bound to it, the key of its ledger."""
    fingerprint = None
    if settings.keyring_path.name in files:
        fingerprint = open_cipher(settings, engine).fingerprint  # refuses another ring
    else:
        with engine.connect() as conn:
            bound = databases.fingerprint(conn)
            if bound is not None or holds_encrypted_values(conn):
                raise BackupRefused(Message(_(
                    "找不到密钥文件 {path}，而数据库的数据是加密的：这样的备份无法使用。"
                    "请把 CTOWN_VAR_DIR 设为存放密钥的目录"), {"path": str(settings.keyring_path)}))
    with engine.connect() as conn:
        vkey = databases.ledger_vkey(conn)
    if vkey is not None and _ledger_vkey(files.get(LEDGER_KEY)) != vkey:
        raise BackupRefused(Message(_(
            "{path} 缺失或不是该数据库账本的签名密钥：请把 CTOWN_VAR_DIR 设为存放它的目录"),
            {"path": str(settings.var_dir / LEDGER_KEY)}))
    return fingerprint


def _ledger_vkey(skey: bytes | None) -> str | None:
    if skey is None:
        return None
    try:
        return Signer.from_skey(skey.decode()).verifier.vkey
    except (NoteError, ValueError):
        return None


# -- restore -------------------------------------------------------------------------------------
def restore(settings: Settings, engine: Engine, src: Path, passphrase: str, *,
            force: bool = False) -> RestoreResult:
    """``ctown restore SRC``: the archive into the (empty) database of the settings, its key
    files into their ``var/``. Every refusal comes before the first change."""
    kind = databases.kind_of(settings.sqlalchemy_url)
    databases.preflight(settings.sqlalchemy_url, "pg_restore")
    with open_archive(src) as archive:
        keys = archive.unlock(passphrase)  # wrong passphrase, altered manifest or part
        manifest = archive.manifest
        db = manifest["database"]
        if db["kind"] != kind:
            raise BackupRefused(Message(_(
                "该备份是 {archive} 数据库的，目标是 {target}：只能恢复到同类数据库"),
                {"archive": db["kind"], "target": kind}))
        upgrade_needed = _check_revision(str(db["alembic_revision"]))
        files = {n: base64.b64decode(b) for n, b in json.loads(archive.read(keys, KEYS_PART)).items()}
        _check_var(settings, files)
        _check_target(engine, kind, db["tables"], force)
        with _scratch(settings) as scratch:
            with (scratch / "database").open("wb") as out:
                archive.decrypt(keys, DATABASE_PARTS[kind], out)
            engine.dispose()  # no pooled connection holds the old schema
            databases.load(settings.sqlalchemy_url, scratch / "database")
    written, kept = _write_var(settings, files)
    _verify(settings, engine, manifest, files)
    with session_factory(engine).begin() as session:
        audit(session, None, "backup.restore", src.name, kind=kind,
              created_at=manifest["created_at"])
    return RestoreResult(manifest, written, kept, upgrade_needed)


def _check_revision(revision: str) -> bool:
    """True when the archive is older than the code (``ctown db upgrade`` after the restore);
    refused when it is newer: this code would not know its tables."""
    script = ScriptDirectory.from_config(alembic_config())
    try:
        script.get_revision(revision)
    except CommandError:
        raise BackupRefused(Message(_(
            "该备份的数据库版本 {revision} 比本程序认识的更新：请先升级 ctown 再恢复。未做任何更改"),
            {"revision": revision})) from None
    return revision not in script.get_heads()


def _check_var(settings: Settings, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = settings.var_dir / name
        if path.exists() and path.read_bytes() != data:
            raise BackupRefused(Message(_(
                "目标目录已有不同的 {path}：不会覆盖。请用空的 CTOWN_VAR_DIR，或先把它移走。"
                "未做任何更改"), {"path": str(path)}))


def _check_target(engine: Engine, kind: str, tables: dict[str, int], force: bool) -> None:
    target = databases.facts(engine)
    if target.holds_rows and not force:
        raise BackupRefused(Message(_(
            "目标数据库不是空的（{rows} 行）：恢复会替换其全部内容。确需替换请加 --force。未做任何更改"),
            {"rows": sum(n for t, n in target.tables.items() if t != "alembic_version")}))
    unknown = sorted(set(target.tables) - set(tables))
    if unknown and kind == "postgresql":  # pg_restore --clean drops only what the dump holds
        raise BackupRefused(Message(_(
            "目标数据库有备份中没有的表（{tables}）：请恢复到新建的空数据库。未做任何更改"),
            {"tables": ", ".join(unknown[:5])}))


def _write_var(settings: Settings, files: dict[str, bytes]) -> tuple[list[str], list[str]]:
    """Each key file written owner-only and linked into place, so a file is never half there
    and never replaces another (link fails when the name exists)."""
    settings.var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    written, kept = [], []
    for name, data in sorted(files.items()):
        path = settings.var_dir / name
        if path.exists():
            kept.append(name)
            continue
        tmp = path.with_name(f".{name}.restoring")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        written.append(name)
    return written, kept


def _verify(settings: Settings, engine: Engine, manifest: dict[str, Any],
            files: dict[str, bytes]) -> None:
    """The restored database holds what the manifest counted, opens with the restored ring and
    its ledger with the restored key."""
    found = databases.facts(engine)
    if found.tables != manifest["database"]["tables"]:
        differ = sorted(t for t in set(found.tables) | set(manifest["database"]["tables"])
                        if found.tables.get(t) != manifest["database"]["tables"].get(t))
        raise BackupRefused(Message(_("恢复后的行数与备份清单不符：{tables}"),
                                    {"tables": ", ".join(differ[:5])}))
    if settings.keyring_path.name in files:
        open_cipher(settings, engine)
    if found.ledger_vkey is not None and _ledger_vkey(files.get(LEDGER_KEY)) != found.ledger_vkey:
        raise BackupRefused(Message(_("恢复的账本签名密钥与账本登记的公钥不一致")))


@contextmanager
def _scratch(settings: Settings) -> Iterator[Path]:
    """A private folder inside ``var/`` for the plain database copy (never on the backup
    medium, which travels), removed afterwards."""
    settings.var_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=settings.var_dir, prefix=".backup-") as name:
        yield Path(name)


def _version() -> str:
    try:
        return importlib.metadata.version("ctown")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
