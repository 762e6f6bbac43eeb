"""Tables of the tamper-evident log (区块链存证): the log, its leaves, its signed checkpoints.

The tree is kept in tiles of 16 leaves with all their stored subtree hashes, the mapping from leaves
to source records in runs: a million leaves are ~62,500 tile rows and a few entry rows, not a
million index entries, which is what keeps the ledger from slowing ingest.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ctown.db import Base, UTCDateTime, utcnow

# SQLite only makes ``INTEGER PRIMARY KEY`` the row id (no second index to maintain).
BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class LedgerLog(Base):
    """The one log of this installation: its name (origin), hash function and public key.

    ``size`` is the number of leaves; appenders lock this row, so two batches never interleave.
    """

    __tablename__ = "ledger_log"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    origin: Mapped[str] = mapped_column(sa.String(200))
    hash_alg: Mapped[str] = mapped_column(sa.String(10))
    vkey: Mapped[str] = mapped_column(sa.String(300))
    size: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint("hash_alg IN ('sha256', 'sm3')", name="hash_alg"),)


class LedgerTile(Base):
    """Sixteen consecutive leaves of the tree with every subtree hash they complete.

    ``hashes`` is, for each leaf of the tile in order, its leaf hash followed by the hashes of the
    perfect subtrees that leaf completes, level 1 first (:func:`ctown.ledger.merkle.append_leaves`).
    One row per 16 leaves keeps appends cheap on both databases; a proof reads ``O(log n)`` rows.
    """

    __tablename__ = "ledger_tiles"

    tile_index: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=False)
    hashes: Mapped[bytes] = mapped_column(sa.LargeBinary)


class LedgerEntry(Base):
    """Which source records a run of consecutive leaves commits to (one kind, ascending ids).

    Leaf ``first_leaf + i`` is the record ``kind`` / ``refs[i]`` (``refs``: 8-byte big-endian ids);
    ``min_ref``/``max_ref`` find the run of a record without an index row per leaf.
    """

    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(24))
    first_leaf: Mapped[int] = mapped_column(sa.BigInteger, unique=True)
    count: Mapped[int] = mapped_column(sa.Integer)
    min_ref: Mapped[int] = mapped_column(sa.BigInteger)
    max_ref: Mapped[int] = mapped_column(sa.BigInteger)
    refs: Mapped[bytes] = mapped_column(sa.LargeBinary)

    __table_args__ = (sa.Index("ix_ledger_entries_kind_refs", "kind", "max_ref", "min_ref"),)


class LedgerCheckpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint in a signed note), kept as published."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(64))
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
