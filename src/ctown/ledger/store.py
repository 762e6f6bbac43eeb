"""The Merkle tree kept in ``ledger_leaves``: node reads for proofs and bulk leaf appends.

Appends bypass the ORM on purpose: a batch of leaves is one ``executemany`` on SQLite and one
binary ``COPY`` on PostgreSQL, in the caller's transaction, so the ledger keeps up with ingest.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.ledger import merkle
from ctown.ledger.models import LedgerLeaf

_COLUMNS = ("leaf_index", "leaf_hash", "nodes", "kind", "ref_id")
_PG_TYPES = ["int8", "bytea", "bytea", "varchar", "int8"]

LeafInput = tuple[str, int | None, bytes]
"""``(kind, ref_id, leaf hash)`` of a leaf to append."""


class DbTree:
    """Node store over ``ledger_leaves`` (see :func:`ctown.ledger.merkle.node_row`)."""

    def __init__(self, session: Session, hasher: merkle.Hasher) -> None:
        self.session = session
        self.hasher = hasher

    def get_nodes(self, keys: Collection[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        where = {key: merkle.node_row(key) for key in keys}
        rows = self.read_rows({row for row, _ in where.values()})
        size, out = self.hasher.size, {}
        for key, (row, level) in where.items():
            found = rows.get(row)
            if found is None:
                continue
            leaf_hash, nodes = found
            value = leaf_hash if level == 0 else nodes[(level - 1) * size: level * size]
            if len(value) == size:
                out[key] = value
        return out

    def read_rows(self, indexes: Collection[int]) -> dict[int, tuple[bytes, bytes]]:
        if not indexes:
            return {}
        stmt = sa.select(LedgerLeaf.leaf_index, LedgerLeaf.leaf_hash, LedgerLeaf.nodes).where(
            LedgerLeaf.leaf_index.in_(sorted(indexes)))
        return {i: (bytes(h), bytes(n)) for i, h, n in self.session.execute(stmt)}

    def append(self, size: int, leaves: Sequence[LeafInput]) -> int:
        """Append leaves after the first ``size``; returns the new size. Caller holds the log lock."""
        if not leaves:
            return size
        frontier_keys = merkle.frontier_keys(size)
        found = self.get_nodes(frontier_keys)
        if len(found) != len(frontier_keys):
            raise LookupError("the stored tree does not match the log size")
        frontier = [found[k] for k in frontier_keys]
        nodes = merkle.append_leaves(self.hasher, frontier, size, [h for _, _, h in leaves])
        rows = [(size + i, leaf[2], node, leaf[0], leaf[1])
                for i, (leaf, node) in enumerate(zip(leaves, nodes, strict=True))]
        bulk_insert(self.session, rows)
        return size + len(leaves)


def bulk_insert(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Insert leaf rows in the session's transaction, the fastest way each database offers."""
    conn = session.connection()
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        cols = ", ".join(_COLUMNS)
        with raw.cursor() as cur, cur.copy(  # type: ignore[union-attr]
                f"COPY ledger_leaves ({cols}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(_PG_TYPES)
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(_COLUMNS))
    cur = raw.cursor()  # type: ignore[union-attr]
    try:
        cur.executemany(f"INSERT INTO ledger_leaves ({', '.join(_COLUMNS)}) VALUES ({marks})",
                        rows)
    finally:
        cur.close()
