"""Tables of the tamper-evident log (区块链存证): the log, its leaves, its signed checkpoints.

One row per leaf keeps the whole tree: the leaf hash and, in ``nodes``, the hashes of the perfect
subtrees that this leaf completes (see :func:`ctown.ledger.merkle.append_leaves`) — about one node
hash per leaf, written in the same insert, so that a proof is one indexed read of ``O(log n)`` rows.
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


class LedgerLeaf(Base):
    """Leaf ``leaf_index`` (0-based) commits to one source record (``kind`` + ``ref_id``)."""

    __tablename__ = "ledger_leaves"

    leaf_index: Mapped[int] = mapped_column(BigKey, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(64))
    nodes: Mapped[bytes] = mapped_column(sa.LargeBinary)
    kind: Mapped[str] = mapped_column(sa.String(24))
    ref_id: Mapped[int | None] = mapped_column(sa.BigInteger)

    __table_args__ = (sa.UniqueConstraint("kind", "ref_id"),)


class LedgerCheckpoint(Base):
    """A signed checkpoint (C2SP tlog-checkpoint in a signed note), kept as published."""

    __tablename__ = "ledger_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tree_size: Mapped[int] = mapped_column(sa.BigInteger, index=True)
    root_hash: Mapped[bytes] = mapped_column(sa.LargeBinary(64))
    note: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
