"""Key rotation (动态加密): add a key version, re-encrypt every encrypted field with it in small
batches while the platform stays online, and retire versions nothing uses any more.

Every encrypted column is one a capability declares (``Capability.encrypted``): the subjects'
resident IDs and phone numbers, the ingest's quarantined rows, values held until consent and
consent-register rejects. Privacy sits below the ingest and knows none of them by name; a
column left undeclared would stay under the old version and be lost when it is retired, so
retiring is refused while any declared column still holds a value under a version it retires.

Resumable by construction: a batch takes the next rows whose value is not yet under the active
version (the version is the prefix of every ciphertext), so an interrupted run simply continues.
Each row is written back only if it still holds the value that was read (compare-and-set), so a
concurrent edit by the running platform is never overwritten. The blind-index key does not
rotate, so look-ups by resident ID keep working throughout.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ctown.audit import audit
from ctown.capabilities import CapabilityError, EncryptedColumns, capabilities
from ctown.crypto import FieldCipher
from ctown.db import rowcount
from ctown.errors import Conflict
from ctown.i18n import Message, _
from ctown.privacy.models import AuditEvent


@dataclass(frozen=True)
class EncryptedColumn:
    """A column of ciphertexts, with how to build each row's associated data."""

    table: str
    column: str
    key: str
    aad: Callable[[dict[str, Any]], str]
    needs: tuple[str, ...] = ()


class KeyVersionInUse(Conflict):
    """A key version to retire still encrypts stored values; nothing was retired."""


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted column the capabilities declare, in capability order (the subjects'
    first); a column declared twice is an error, as a ledger source declared twice is."""
    found: dict[tuple[str, str], EncryptedColumn] = {}
    for cap in capabilities():
        for declared in cap.encrypted:
            table = declared.table().name
            for column in declared.columns:
                if (table, column) in found:
                    raise CapabilityError(f"encrypted column {table}.{column} declared twice "
                                          f"(again by {cap.name})")
                found[table, column] = EncryptedColumn(table, column, declared.id_column,
                                                       _row_aad(declared, column),
                                                       declared.needs)
    return list(found.values())


def _row_aad(declared: EncryptedColumns, column: str) -> Callable[[dict[str, Any]], str]:
    return lambda row: _aad_function(declared)(column, row)


@functools.cache
def _aad_function(declared: EncryptedColumns) -> Callable[[str, Mapping[str, Any]], str]:
    # Imported on first use: every command opening the key ring reads the declarations, and the
    # ingest's functions bring Polars with them.
    return declared.aad_function()


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
    for per_column in column_version_counts(session, columns).values():
        for version, n in per_column.items():
            counts[version] = counts.get(version, 0) + n
    return dict(sorted(counts.items()))


def column_version_counts(session: Session, columns: list[EncryptedColumn] | None = None
                          ) -> dict[str, dict[int, int]]:
    """``{"table.column": {version: values}}``, one grouped count per column."""
    found: dict[str, dict[int, int]] = {}
    for col in columns or encrypted_columns():
        c: sa.ColumnClause[str] = sa.column(col.column)
        prefix = sa.func.substr(c, 1, sa.func.instr(c, ":") - 1) if session.get_bind(
        ).dialect.name == "sqlite" else sa.func.split_part(c, ":", 1)
        stmt = sa.select(prefix, sa.func.count()).select_from(sa.table(col.table, c)).where(
            c.is_not(None)).group_by(prefix)
        found[f"{col.table}.{col.column}"] = dict(sorted(
            (int(version), int(n)) for version, n in session.execute(stmt)))
    return found


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
    if added or unfinished:
        # The ring is a file, saved before this transaction: a process killed in between left
        # the new version without its audit event, so the run that resumes it records it.
        with factory.begin() as session:
            if not _audited(session, cipher.active_version):
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


def _audited(session: Session, version: int) -> bool:
    """Whether the rotation to ``version`` has its audit event (a handful of rows to read)."""
    details = session.scalars(sa.select(AuditEvent.detail).where(
        AuditEvent.action == "keys.rotate"))
    return any(d.get("version") == version for d in details)


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
    """Retire every key version but the active one, once no stored value uses them; refused,
    nothing retired, while any declared column still holds a value under one (naming each
    column and how many): retired, those values could no longer be read."""
    retired = [v for v in cipher.key_versions if v != cipher.active_version]
    in_use = {name: n for name, counts in column_version_counts(session).items()
              if (n := sum(counts.get(v, 0) for v in retired))}
    if in_use:
        raise KeyVersionInUse(Message(_(
            "密钥版本 {versions} 仍在使用（表.列 数据条数）：{columns}。停用后这些数据将无法"
            "解密；请先运行 ctown keys rotate 直至完成（complete 为 true）。未做任何更改"),
            {"versions": ", ".join(map(str, retired)),
             "columns": ", ".join(f"{name} {n}" for name, n in in_use.items())}))
    for version in retired:
        cipher.retire(version)
    if retired:
        cipher.save()
        audit(session, None, "keys.retire", "keyring", versions=retired)
    return retired
