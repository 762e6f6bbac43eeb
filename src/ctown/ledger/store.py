"""The Merkle tree kept in ``ledger_tiles`` and the leaf → record map kept in ``ledger_entries``.

Tile ``t`` holds leaves ``16t … 16t+15``: for each leaf its hash, then the hashes of the perfect
subtrees it completes (:func:`ctown.ledger.merkle.append_leaves`). Node ``(level, k)`` therefore
lives in the tile of its last leaf ``i = ((k + 1) << level) - 1`` at a fixed offset, and a proof is
one read of ``O(log n)`` tile rows through the driver (the hot path of the proof API).
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.db import driver_connection
from ctown.ledger import merkle
from ctown.ledger.models import LedgerEntry, LedgerTile

TILE_HEIGHT = 4
TILE_WIDTH = 1 << TILE_HEIGHT
_MASK = TILE_WIDTH - 1


def _trailing_ones(x: int) -> int:
    return (x ^ (x + 1)).bit_length() - 1


# Hashes before leaf ``j``'s record inside its tile: one leaf hash per earlier leaf plus the nodes
# each completed (for ``x < 15`` the trailing ones of ``16t + x`` are those of ``x``).
OFFSETS = [j + sum(_trailing_ones(x) for x in range(j)) for j in range(TILE_WIDTH)]

LeafInput = tuple[str, int, bytes]
"""``(kind, ref id, leaf hash)`` of a leaf to append."""

_READ = "SELECT tile_index, hashes FROM ledger_tiles"
_PG_SLICES = ("SELECT x.n, substring(t.hashes from x.pos for %s) FROM "
              "unnest(%s::int8[], %s::int4[]) WITH ORDINALITY AS x(tile, pos, n) "
              "JOIN ledger_tiles t ON t.tile_index = x.tile")


@dataclass(frozen=True)
class Run:
    """Leaves ``first_leaf … first_leaf + len(refs) - 1`` commit to records ``kind`` / ``refs``."""

    kind: str
    first_leaf: int
    refs: tuple[int, ...]


def pack_refs(refs: Sequence[int]) -> bytes:
    return struct.pack(f">{len(refs)}q", *refs)


def unpack_refs(blob: bytes) -> tuple[int, ...]:
    return struct.unpack(f">{len(blob) // 8}q", blob)


class DbTree:
    """Node store over ``ledger_tiles`` (a :class:`ctown.ledger.merkle.NodeStore`)."""

    CACHE_LIMIT = 262_144

    def __init__(self, session: Session, hasher: merkle.Hasher) -> None:
        self.session = session
        self.hasher = hasher
        # A stored perfect-subtree hash never changes (the log only appends), so a reader may keep
        # what it has read; the upper nodes are shared by most proofs. ``verify`` reads afresh.
        self._cache: dict[merkle.NodeKey, bytes] = {}

    # -- reading ---------------------------------------------------------------------------------
    def get_nodes(self, keys: Collection[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        cache = self._cache
        hit = {k: cache[k] for k in keys if k in cache}
        if len(hit) == len(keys):
            return hit
        found = self._read_nodes([k for k in keys if k not in hit])
        if len(cache) + len(found) > self.CACHE_LIMIT:
            cache.clear()
        cache.update(found)
        return hit | found

    def _read_nodes(self, keys: Collection[merkle.NodeKey]) -> dict[merkle.NodeKey, bytes]:
        size, where = self.hasher.size, {}
        for key in keys:
            row, level = merkle.node_row(key)
            where[key] = (row >> TILE_HEIGHT, (OFFSETS[row & _MASK] + level) * size)
        if self.session.get_bind().dialect.name == "postgresql":
            return self._pg_slices(where)
        tiles = self.read_tiles({t for t, _ in where.values()})
        out = {}
        for key, (tile, pos) in where.items():
            value = tiles.get(tile, b"")[pos:pos + size]
            if len(value) == size:
                out[key] = value
        return out

    def _pg_slices(self, where: dict[merkle.NodeKey, tuple[int, int]]
                   ) -> dict[merkle.NodeKey, bytes]:
        """Only the 32 bytes of each node cross the wire (a tile is ~1 KB), one round trip."""
        if not where:
            return {}
        keys = list(where)
        raw = driver_connection(self.session.connection())
        with raw.cursor(binary=True) as cur:
            cur.execute(_PG_SLICES, (self.hasher.size, [where[k][0] for k in keys],
                                     [where[k][1] + 1 for k in keys]))
            rows = cur.fetchall()
        return {keys[i - 1]: bytes(v) for i, v in rows if len(v) == self.hasher.size}

    def read_tiles(self, indexes: Collection[int]) -> dict[int, bytes]:
        """``tile_index -> hashes`` in one statement on the driver connection (no compilation)."""
        if not indexes:
            return {}
        conn = self.session.connection()
        raw = driver_connection(conn)
        ids = sorted(indexes)
        pg = conn.dialect.name == "postgresql"
        # Binary results: bytea travels as bytes, not as hex text twice its size.
        cur = raw.cursor(binary=True) if pg else raw.cursor()
        try:
            if pg:
                cur.execute(f"{_READ} WHERE tile_index = ANY(%s)", (ids,))
            else:
                cur.execute(f"{_READ} WHERE tile_index IN ({', '.join('?' * len(ids))})", ids)
            return {int(i): bytes(h) for i, h in cur.fetchall()}
        finally:
            cur.close()

    def leaf_hashes(self, first: int, stop: int) -> list[bytes]:
        """Leaf hashes of ``[first, stop)`` read tile by tile (for recomputing the tree)."""
        size, out = self.hasher.size, []
        for tile, blob in self.iter_tiles(first >> TILE_HEIGHT, (stop - 1) >> TILE_HEIGHT):
            base = tile << TILE_HEIGHT
            for j in range(max(first - base, 0), min(stop - base, TILE_WIDTH)):
                out.append(blob[OFFSETS[j] * size:(OFFSETS[j] + 1) * size])
        return out

    def iter_tiles(self, first: int, last: int, chunk: int = 4096) -> Iterator[tuple[int, bytes]]:
        while first <= last:
            stmt = sa.select(LedgerTile.tile_index, LedgerTile.hashes).where(
                LedgerTile.tile_index.between(first, min(first + chunk - 1, last))
            ).order_by(LedgerTile.tile_index)
            for tile, blob in self.session.execute(stmt):
                yield tile, bytes(blob)
            first += chunk

    # -- appending -------------------------------------------------------------------------------
    def append(self, size: int, leaves: Sequence[LeafInput]) -> int:
        """Append leaves after the first ``size``; returns the new size (caller holds the lock)."""
        if not leaves:
            return size
        keys = merkle.frontier_keys(size)
        found = self.get_nodes(keys)
        if len(found) != len(keys):
            raise LookupError("the stored tree does not match the log size")
        frontier = [found[k] for k in keys]
        kinds, refs, hashes = zip(*leaves, strict=True)
        nodes = merkle.append_leaves(self.hasher, frontier, size, hashes)
        records = [h + n for h, n in zip(hashes, nodes, strict=True)]
        self._write_tiles(size, records)
        self._write_runs(size, kinds, refs)
        return size + len(leaves)

    def _write_tiles(self, size: int, records: list[bytes]) -> None:
        new_rows: list[tuple[int, bytes]] = []
        pos, index = 0, size
        while pos < len(records):
            take = min(TILE_WIDTH - (index & _MASK), len(records) - pos)
            blob = b"".join(records[pos:pos + take])
            tile = index >> TILE_HEIGHT
            if index & _MASK:  # the last tile was partial: extend it
                old = self.read_tiles([tile])[tile]
                self.session.execute(sa.update(LedgerTile).where(
                    LedgerTile.tile_index == tile).values(hashes=old + blob))
            else:
                new_rows.append((tile, blob))
            pos, index = pos + take, index + take
        if new_rows:
            _insert_tiles(self.session, new_rows)

    def _write_runs(self, size: int, kinds: Sequence[str], refs: Sequence[int]) -> None:
        rows: list[dict[str, object]] = []
        if len(set(kinds)) == 1 and all(a < b for a, b in itertools.pairwise(refs)):
            rows.append({"kind": kinds[0], "first_leaf": size, "count": len(refs),
                         "min_ref": refs[0], "max_ref": refs[-1], "refs": pack_refs(refs)})
            self.session.execute(sa.insert(LedgerEntry.__table__), rows)
            return
        start = 0
        for i in range(1, len(kinds) + 1):
            if i == len(kinds) or kinds[i] != kinds[start] or refs[i] <= refs[i - 1]:
                part = refs[start:i]
                rows.append({"kind": kinds[start], "first_leaf": size + start, "count": i - start,
                             "min_ref": part[0], "max_ref": part[-1], "refs": pack_refs(part)})
                start = i
        self.session.execute(sa.insert(LedgerEntry.__table__), rows)

    # -- the leaf ↔ record map -------------------------------------------------------------------
    def locate(self, kind: str, ref: int) -> int | None:
        """The leaf index committing to record ``kind``/``ref``, if it was appended."""
        stmt = sa.select(LedgerEntry.first_leaf, LedgerEntry.refs).where(
            LedgerEntry.kind == kind, LedgerEntry.max_ref >= ref, LedgerEntry.min_ref <= ref)
        for first, blob in self.session.execute(stmt):
            refs = unpack_refs(bytes(blob))
            pos = bisect.bisect_left(refs, ref)
            if pos < len(refs) and refs[pos] == ref:
                return int(first) + pos
        return None

    def record_of(self, leaf_index: int) -> tuple[str, int] | None:
        stmt = sa.select(LedgerEntry.kind, LedgerEntry.first_leaf, LedgerEntry.refs).where(
            LedgerEntry.first_leaf <= leaf_index).order_by(LedgerEntry.first_leaf.desc()).limit(1)
        row = self.session.execute(stmt).first()
        if row is None:
            return None
        refs = unpack_refs(bytes(row.refs))
        pos = leaf_index - row.first_leaf
        return (row.kind, refs[pos]) if pos < len(refs) else None

    def high_water(self, kind: str) -> int | None:
        """The largest record id of ``kind`` in the log (appenders continue after it)."""
        value = self.session.scalar(sa.select(sa.func.max(LedgerEntry.max_ref)).where(
            LedgerEntry.kind == kind))
        return None if value is None else int(value)

    def runs(self) -> Iterator[Run]:
        stmt = sa.select(LedgerEntry.kind, LedgerEntry.first_leaf, LedgerEntry.refs).order_by(
            LedgerEntry.first_leaf)
        for kind, first, blob in self.session.execute(stmt):
            yield Run(kind, int(first), unpack_refs(bytes(blob)))


def _insert_tiles(session: Session, rows: list[tuple[int, bytes]]) -> None:
    """Thousands of tile rows per batch: binary ``COPY`` on PostgreSQL, executemany on SQLite."""
    conn = session.connection()
    raw = driver_connection(conn)
    if conn.dialect.name == "postgresql":
        with raw.cursor() as cur, cur.copy(
                "COPY ledger_tiles (tile_index, hashes) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "bytea"])
            for row in rows:
                copy.write_row(row)
        return
    cur = raw.cursor()
    try:
        cur.executemany("INSERT INTO ledger_tiles (tile_index, hashes) VALUES (?, ?)", rows)
    finally:
        cur.close()
