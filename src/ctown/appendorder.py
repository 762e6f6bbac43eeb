"""Rows of append-only tables commit in id order (what the ledger's high-water mark relies on).

The ledger (区块链存证) appends each source table's rows after the largest id it already holds
(:mod:`ctown.ledger.tasks`). On PostgreSQL two transactions take ids from one sequence and may
commit in the other order: the later commit's smaller ids would then lie *below* the mark, never
appended and reported as "inserted behind the platform's back". So every writer of such a table
takes a per-table transaction lock before its first row (:func:`before_insert`); the lock ends
with the transaction, after the rows are appended. SQLite has one writer at a time already.

Every bulk path (``COPY``, DB-API ``executemany``) calls :func:`before_insert`; statements that
SQLAlchemy executes are caught by the ledger's cursor hook (:mod:`ctown.ledger.keeping`). The
tables are registered by the ledger when it keeps an engine; with none registered nothing here
does anything. Kept below every capability, so the ingest and scoring bulk writers can call it.
"""

from __future__ import annotations

import zlib
from typing import Any

#: Tables whose rows the ledger appends in id order (registered by ``ctown.ledger.keeping``).
ORDERED: set[str] = set()
#: ``id()`` of the driver connections whose open transaction wrote such rows: the ledger's
#: commit hook appends only for those. Keyed by id (sqlite3 connections take no weak reference):
#: a kept engine forgets a connection's mark when the pool hands it out (:func:`forget`), so a
#: mark left by a closed connection whose id was reused, or by a rolled-back transaction, never
#: makes a later commit append rows that are not its own.
_written: set[int] = set()

_LOCK_CLASS = 0x6C656467  # "ledg": the first key of PostgreSQL's two-key advisory locks


def lock_key(table: str) -> int:
    """The second key of the table's advisory lock: CRC-32 as a signed 32-bit integer."""
    value = zlib.crc32(table.encode())
    return value - (1 << 32) if value >= 1 << 31 else value


def before_insert(raw: Any, table: str, postgresql: bool) -> None:
    """Call before inserting rows into ``table`` on the driver connection ``raw``."""
    if table not in ORDERED:
        return
    _written.add(id(raw))
    if postgresql:
        # Reentrant within a session and released at COMMIT/ROLLBACK: cheap to take again.
        with raw.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_LOCK_CLASS, lock_key(table)))


def take_written(raw: Any) -> bool:
    """Whether this connection's transaction wrote ordered rows (and forget it)."""
    key = id(raw)
    if key in _written:
        _written.discard(key)
        return True
    return False


def forget(raw: Any) -> None:
    """A new checkout of ``raw`` starts unmarked (the pool's ``checkout`` event)."""
    _written.discard(id(raw))
