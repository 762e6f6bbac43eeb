"""The key ring bound to its database (密钥与数据库绑定, #12 item 1).

A database records the fingerprint of the key ring its fields were encrypted under
(:class:`ctown.privacy.models.KeyringBinding`). Every command and the server open the ring through
:func:`open_cipher`, which refuses — before anything is read or written — a ring that is not the
database's, and a missing ring while the database holds encrypted values. Before this, a command
run from another folder silently made a new ring, encrypted new rows under it and no longer
recognised anyone registered. A new ring is made only for a database without encrypted values
(first start) or by ``ctown keys init``.

A database written before the binding existed is bound on first open, if the ring opens one of
its encrypted values; otherwise it is refused like any other mismatch.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ctown.crypto import DecryptionError, FieldCipher
from ctown.db import make_engine, utcnow
from ctown.errors import Conflict
from ctown.i18n import Message, _
from ctown.privacy.models import KeyringBinding
from ctown.privacy.rotation import encrypted_columns
from ctown.settings import Settings

BINDING_ID = 1


class KeyringError(Conflict):
    """The key ring does not belong to the database (or is missing); nothing was changed."""


def open_cipher(settings: Settings, engine: Engine | None = None) -> FieldCipher:
    """The field cipher of ``settings``' key ring, checked against (or bound to) the database."""
    own = engine is None
    engine = engine or make_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            return bind(conn, settings.keyring_path, settings.cipher_suite)
    finally:
        if own:
            engine.dispose()


def bind(conn: Connection, path: Path, suite: str = "intl") -> FieldCipher:
    """Check the ring at ``path`` against the database; make and bind one only for a database
    without encrypted values."""
    if not sa.inspect(conn).has_table(KeyringBinding.__tablename__):
        return FieldCipher.load(path, suite)  # not migrated yet: nothing is encrypted
    bound = conn.scalar(sa.select(KeyringBinding.fingerprint).where(
        KeyringBinding.id == BINDING_ID))
    if not path.exists():
        if bound is not None:
            raise KeyringError(Message(_(
                "找不到密钥文件 {path}，而该数据库的数据是用密钥环 {fingerprint} 加密的；"
                "请恢复原密钥文件，或把 CTOWN_VAR_DIR 设为存放它的目录。未做任何更改"),
                {"path": str(path), "fingerprint": bound}))
        if holds_encrypted_values(conn):
            raise KeyringError(Message(_(
                "找不到密钥文件 {path}，而该数据库已有加密数据；请恢复原密钥文件，"
                "或把 CTOWN_VAR_DIR 设为存放它的目录。未做任何更改"), {"path": str(path)}))
        cipher = FieldCipher.load(path, suite)  # first start: make the ring and bind it
        _record(conn, cipher)
        return cipher
    cipher = FieldCipher.load(path, suite)
    if bound is None:
        if holds_encrypted_values(conn) and not opens(conn, cipher):
            raise KeyringError(Message(_(
                "密钥文件 {path}（密钥环 {found}）解不开该数据库已有的加密数据：不属于该数据库。"
                "请使用该数据库的密钥文件。未做任何更改"),
                {"path": str(path), "found": cipher.fingerprint}))
        _record(conn, cipher)
    elif bound != cipher.fingerprint:
        raise _mismatch(path, cipher, bound)
    return cipher


def _mismatch(path: Path, cipher: FieldCipher, bound: str) -> KeyringError:
    return KeyringError(Message(_(
        "密钥文件 {path}（密钥环 {found}）不属于该数据库（密钥环 {bound}）：用它会无法识别已登记的人，"
        "新数据也会用错误的密钥加密。请使用该数据库的密钥文件。未做任何更改"),
        {"path": str(path), "found": cipher.fingerprint, "bound": bound}))


def _record(conn: Connection, cipher: FieldCipher) -> None:
    conn.execute(sa.insert(KeyringBinding).values(id=BINDING_ID, fingerprint=cipher.fingerprint,
                                                 bound_at=utcnow()))


def holds_encrypted_values(conn: Connection) -> bool:
    return any(conn.scalar(sa.select(sa.literal(1)).select_from(sa.table(c.table))
                           .where(sa.column(c.column).is_not(None)).limit(1)) is not None
               for c in encrypted_columns())


def opens(conn: Connection, cipher: FieldCipher) -> bool:
    """Does the ring decrypt a stored value (the first of each encrypted column)?"""
    for col in encrypted_columns():
        names = sorted({col.column, *col.needs})
        row = conn.execute(sa.select(*(sa.column(n) for n in names)).select_from(
            sa.table(col.table)).where(sa.column(col.column).is_not(None)).limit(1)).mappings(
            ).first()
        if row is None:
            continue
        try:
            cipher.decrypt(row[col.column], col.aad(dict(row)))
        except DecryptionError:
            return False
    return True


def init_ring(settings: Settings) -> FieldCipher:
    """``ctown keys init``: make the ring for a database that has none and no encrypted values."""
    path = settings.keyring_path
    if path.exists():
        raise KeyringError(Message(_("密钥文件 {path} 已存在，未做任何更改"), {"path": str(path)}))
    engine = make_engine(settings.sqlalchemy_url)
    try:
        with engine.begin() as conn:
            return bind(conn, path, settings.cipher_suite)
    finally:
        engine.dispose()
