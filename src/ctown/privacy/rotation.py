"""Key rotation (动态加密): add a key version, re-encrypt every encrypted field with it in small
batches while the platform stays online, and retire versions nothing uses any more.

Resumable by construction: a batch takes the next rows whose value is not yet under the active
version (the version is the prefix of every ciphertext), so an interrupted run simply continues.
Each row is written back only if it still holds the value that was read (compare-and-set), so a
concurrent edit by the running platform is never overwritten. The blind-index key does not
rotate, so look-ups by resident ID keep working throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ctown.audit import audit
from ctown.crypto import FieldCipher
from ctown.db import rowcount


@dataclass(frozen=True)
class EncryptedColumn:
    """A column of ciphertexts, with how to build each row's associated data."""

    table: str
    column: str
    key: str
    aad: Callable[[dict[str, Any]], str]
    needs: tuple[str, ...] = ()


def _subject_aad(column: str) -> Callable[[dict[str, Any]], str]:
    from ctown.registry.service import subject_aad

    return lambda row: subject_aad(column, row["id_index"])


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted field of the platform (resident IDs and phone numbers of subjects)."""
    return [EncryptedColumn("subjects", "id_cipher", "id", _subject_aad("id_cipher"),
                            ("id_index",)),
            EncryptedColumn("subjects", "phone_cipher", "id", _subject_aad("phone_cipher"),
                            ("id_index",))]


@dataclass
class RotationResult:
    active_version: int
    added_version: bool
    rewritten: int = 0
    skipped_concurrent: int = 0
    remaining: int = 0
    per_version: dict[int, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.remaining == 0


def version_counts(session: Session, columns: list[EncryptedColumn] | None = None
                   ) -> dict[int, int]:
    """How many stored values each key version encrypts (decides what may be retired)."""
    counts: dict[int, int] = {}
    for col in columns or encrypted_columns():
        c: sa.ColumnClause[str] = sa.column(col.column)
        prefix = sa.func.substr(c, 1, sa.func.instr(c, ":") - 1) if session.get_bind(
        ).dialect.name == "sqlite" else sa.func.split_part(c, ":", 1)
        stmt = sa.select(prefix, sa.func.count()).select_from(sa.table(col.table, c)).where(
            c.is_not(None)).group_by(prefix)
        for version, n in session.execute(stmt):
            counts[int(version)] = counts.get(int(version), 0) + int(n)
    return dict(sorted(counts.items()))


def _pending(col: EncryptedColumn, active: int) -> sa.ColumnElement[bool]:
    c: sa.ColumnClause[str] = sa.column(col.column)
    return sa.and_(c.is_not(None), ~c.startswith(f"{active}:", autoescape=True))


def rotate(factory: sessionmaker[Session], cipher: FieldCipher, *, batch: int = 1000,
           max_batches: int | None = None, new_version: bool = True) -> RotationResult:
    """Re-encrypt under a new key version (added unless a previous run is unfinished).

    Each batch is its own short transaction. ``max_batches`` stops early (what an interruption
    looks like); run again to finish.
    """
    columns = encrypted_columns()
    with factory() as session:
        unfinished = sum(_count_pending(session, c, cipher.active_version) for c in columns)
    added = False
    if new_version and unfinished == 0:
        cipher.add_version()
        cipher.save()
        added = True
        with factory.begin() as session:
            audit(session, None, "keys.rotate", "keyring", version=cipher.active_version)
    result = RotationResult(cipher.active_version, added)
    done = 0
    for col in columns:
        while max_batches is None or done < max_batches:
            with factory.begin() as session:
                written, raced, got = _rotate_batch(session, col, cipher, batch)
            result.rewritten += written
            result.skipped_concurrent += raced
            done += 1
            if got < batch:
                break
    with factory() as session:
        result.remaining = sum(_count_pending(session, c, cipher.active_version)
                               for c in columns)
        result.per_version = version_counts(session, columns)
    return result


def _count_pending(session: Session, col: EncryptedColumn, active: int) -> int:
    stmt = sa.select(sa.func.count()).select_from(
        sa.table(col.table, sa.column(col.column))).where(_pending(col, active))
    return int(session.scalar(stmt) or 0)


def _rotate_batch(session: Session, col: EncryptedColumn, cipher: FieldCipher, batch: int
                  ) -> tuple[int, int, int]:
    t = sa.table(col.table, sa.column(col.key), sa.column(col.column),
                 *(sa.column(n) for n in col.needs))
    rows = session.execute(sa.select(t).where(_pending(col, cipher.active_version))
                           .order_by(t.c[col.key]).limit(batch)).mappings().all()
    written = raced = 0
    for row in rows:
        aad = col.aad(dict(row))
        fresh = cipher.encrypt(cipher.decrypt(row[col.column], aad), aad)
        done = session.execute(sa.update(t).where(t.c[col.key] == row[col.key],
                                                  t.c[col.column] == row[col.column])
                               .values({col.column: fresh}))
        if rowcount(done):
            written += 1
        else:
            raced += 1
    return written, raced, len(rows)


def retire_unused(session: Session, cipher: FieldCipher) -> list[int]:
    """Retire every key version that no stored value uses (never the active one)."""
    used = version_counts(session)
    retired = [v for v in cipher.key_versions if v != cipher.active_version and not used.get(v)]
    for version in retired:
        cipher.retire(version)
    if retired:
        cipher.save()
        audit(session, None, "keys.retire", "keyring", versions=retired)
    return retired
