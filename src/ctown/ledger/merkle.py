"""RFC 9162 (Certificate Transparency 2.0) Merkle tree: hashes, proofs and their verification.

Pure code (standard library + ``cryptography`` for SM3 when OpenSSL lacks it), shared by the
database-backed log, the in-memory tree of the benchmark and the standalone verifier.

Storage model. A tree of ``n`` leaves is described by its *perfect* subtrees: node ``(level, k)``
covers leaves ``[k << level, (k + 1) << level)`` and never changes once its last leaf exists, so
it can be stored when that leaf is appended. Every hash the RFC asks for — the root ``MTH(D[n])``,
each element of ``PATH(m, D[n])`` and ``PROOF(m, D[n])`` — is the hash of a range ``[start, end)``
that is either perfect or lies on the right edge of the tree, and a right-edge range is the
right-to-left fold of at most ``log2 n`` perfect subtrees. A proof therefore reads ``O(log n)``
stored node hashes (:func:`inclusion_proof`, :func:`consistency_proof`) and computes at most
``log2 n`` hashes; nothing is recomputed from the leaves. Stores implement one method,
``get_nodes(keys) -> {key: hash}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

NodeKey = tuple[int, int]
"""``(level, index)`` of a perfect subtree: leaves ``[index << level, (index + 1) << level)``."""

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"


# -- hash functions ------------------------------------------------------------------------------
class _CryptographySM3:
    """``hashlib``-like wrapper for OpenSSL builds whose ``hashlib`` lacks SM3."""

    def __init__(self, data: bytes = b"") -> None:
        from cryptography.hazmat.primitives import hashes

        self._h = hashes.Hash(hashes.SM3())
        self._h.update(data)

    def digest(self) -> bytes:
        return self._h.finalize()


def _hashlib_sm3(data: bytes = b"") -> Any:
    return hashlib.new("sm3", data)


@dataclass(frozen=True)
class Hasher:
    """The RFC 9162 hashing scheme over one hash function (SHA-256 by default, SM3 for GB suites).

    ``new(data)`` is a ``hashlib``-style constructor; hot loops call it directly.
    """

    name: str
    new: Callable[[bytes], Any]
    size: int

    def digest(self, data: bytes) -> bytes:
        return bytes(self.new(data).digest())

    def leaf(self, data: bytes) -> bytes:
        """``HASH(0x00 || leaf)`` (RFC 9162 §2.1.1)."""
        return bytes(self.new(LEAF_PREFIX + data).digest())

    def leaves(self, entries: Iterable[bytes]) -> list[bytes]:
        """Leaf hashes of many entries (one comprehension, no call per entry in between)."""
        new = self.new
        return [new(LEAF_PREFIX + d).digest() for d in entries]

    def node(self, left: bytes, right: bytes) -> bytes:
        """``HASH(0x01 || left || right)``."""
        return bytes(self.new(NODE_PREFIX + left + right).digest())

    def empty(self) -> bytes:
        """``MTH({}) = HASH()``: the root of the empty tree."""
        return bytes(self.new(b"").digest())


HASH_ALGORITHMS = ("sha256", "sm3")


def get_hasher(name: str = "sha256") -> Hasher:
    """The hasher for ``sha256`` (RFC 9162 default) or ``sm3`` (GB/T 32905, Chinese suite)."""
    if name == "sha256":
        return Hasher("sha256", hashlib.sha256, 32)
    if name == "sm3":
        if "sm3" in hashlib.algorithms_available:
            return Hasher("sm3", _hashlib_sm3, 32)
        return Hasher("sm3", _CryptographySM3, 32)
    raise ValueError(f"unknown hash algorithm {name!r}; expected one of {HASH_ALGORITHMS}")


SHA256 = get_hasher("sha256")


# -- tree layout ---------------------------------------------------------------------------------
def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (``k`` in RFC 9162 §2.1.1), ``n >= 2``."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_nodes(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees making up ``[start, end)``, left to right, largest first.

    Ranges produced by the RFC's recursive split are aligned (``start`` is a multiple of the first
    subtree's width), so the decomposition follows the binary digits of ``end - start``.
    """
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start & ((1 << level) - 1):
            raise ValueError(f"range [{start}, {end}) is not aligned to the tree")
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def inclusion_layout(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form ``PATH(index, D[0:size])``, in proof order (leaf first)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = split_point(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def consistency_layout(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form ``PROOF(size1, D[0:size2])`` (RFC 9162 §2.1.4.1), in order."""
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    ranges: list[tuple[int, int]] = []
    start, end, complete = 0, size2, True  # ``complete`` is the RFC's flag ``b``
    while True:
        width, old = end - start, size1 - start
        if old == width:
            if not complete:
                ranges.append((start, end))
            break
        k = split_point(width)
        if old <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            complete = False
    ranges.reverse()
    return ranges


# -- hashes from a node store ------------------------------------------------------------------
class NodeStore(Protocol):
    hasher: Hasher

    def get_nodes(self, keys: Collection[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Stored hashes of the given perfect subtrees (a missing key means it does not exist)."""
        ...


def fold(hasher: Hasher, hashes: Sequence[bytes]) -> bytes:
    """Hash of a range from its perfect subtrees (left to right): ``H(P1, H(P2, H(P3, …)))``."""
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hasher.node(h, acc)
    return acc


def range_hashes(store: NodeStore, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    """``MTH`` of each range, reading every needed perfect node in one ``get_nodes`` call."""
    plans = [perfect_nodes(s, e) for s, e in ranges]
    wanted = {key for plan in plans for key in plan}
    found = store.get_nodes(wanted) if wanted else {}
    missing = wanted - found.keys()
    if missing:
        raise LookupError(f"tree nodes not stored: {sorted(missing)[:5]}")
    return [fold(store.hasher, [found[k] for k in plan]) for plan in plans]


def root(store: NodeStore, size: int) -> bytes:
    """``MTH(D[0:size])``."""
    if size == 0:
        return store.hasher.empty()
    return range_hashes(store, [(0, size)])[0]


def inclusion_proof(store: NodeStore, index: int, size: int) -> list[bytes]:
    """``PATH(index, D[0:size])`` (RFC 9162 §2.1.3.1)."""
    return range_hashes(store, inclusion_layout(index, size))


def consistency_proof(store: NodeStore, size1: int, size2: int) -> list[bytes]:
    """``PROOF(size1, D[0:size2])`` (RFC 9162 §2.1.4.1)."""
    return range_hashes(store, consistency_layout(size1, size2))


# -- appending ---------------------------------------------------------------------------------
def frontier_keys(size: int) -> list[NodeKey]:
    """The perfect subtrees of a tree of ``size`` leaves (the "compact range" to append to)."""
    return perfect_nodes(0, size)


def append_leaves(hasher: Hasher, frontier: list[bytes], size: int,
                  leaf_hashes: Iterable[bytes]) -> list[bytes]:
    """Append leaf hashes to a tree given by its frontier; returns, per new leaf, the new nodes.

    ``frontier`` (the hashes of :func:`frontier_keys`) is updated in place. Leaf ``i`` completes
    the perfect subtrees ``(level, i >> level)`` for ``level = 1 .. t`` where ``t`` is the number of
    trailing one bits of ``i``; their hashes are returned concatenated, level 1 first (empty bytes
    for an even ``i``). About one node hash per leaf on average.
    """
    new = hasher.new
    out: list[bytes] = []
    append_out, push, pop = out.append, frontier.append, frontier.pop
    i = size
    for h in leaf_hashes:
        j = i
        if j & 1:
            parts = []
            while j & 1:
                h = new(NODE_PREFIX + pop() + h).digest()
                parts.append(h)
                j >>= 1
            append_out(b"".join(parts))
        else:
            append_out(b"")
        push(h)
        i += 1
    return out


def node_row(key: NodeKey) -> tuple[int, int]:
    """Where a node is kept in a one-row-per-leaf store: ``(leaf index, level)``.

    Level 0 is the leaf hash itself; a node of level ``l >= 1`` sits in the row of its last leaf,
    at offset ``(l - 1) * hash size`` of that row's node column (see :func:`append_leaves`).
    """
    level, index = key
    return ((index + 1) << level) - 1, level


# -- the in-memory tree --------------------------------------------------------------------------
class MemoryTree:
    """An RFC 9162 tree kept in memory level by level (benchmarks, tests, recomputation)."""

    def __init__(self, hasher: Hasher = SHA256) -> None:
        self.hasher = hasher
        self.levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, data: bytes) -> int:
        """Append one entry; returns its leaf index."""
        self.extend_hashes([self.hasher.leaf(data)])
        return self.size - 1

    def extend(self, entries: Iterable[bytes]) -> None:
        self.extend_hashes(self.hasher.leaves(entries))

    def extend_hashes(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaf hashes and complete every perfect subtree they close, level by level."""
        self.levels[0].extend(leaf_hashes)
        new, level = self.hasher.new, 0
        while len(self.levels[level]) >= 2:
            below = self.levels[level]
            if level + 1 == len(self.levels):
                self.levels.append([])
            above = self.levels[level + 1]
            first, stop = 2 * len(above), len(below) & ~1
            above.extend([new(NODE_PREFIX + below[i] + below[i + 1]).digest()
                          for i in range(first, stop, 2)])
            level += 1

    def get_nodes(self, keys: Collection[NodeKey]) -> dict[NodeKey, bytes]:
        out: dict[NodeKey, bytes] = {}
        for level, index in keys:
            if level < len(self.levels) and index < len(self.levels[level]):
                out[(level, index)] = self.levels[level][index]
        return out

    def root(self, size: int | None = None) -> bytes:
        return root(self, self.size if size is None else size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(self, index, self.size if size is None else size)

    def consistency_proof(self, size1: int, size2: int | None = None) -> list[bytes]:
        return consistency_proof(self, size1, self.size if size2 is None else size2)


def reference_root(hasher: Hasher, leaves: Sequence[bytes]) -> bytes:
    """``MTH`` straight from the RFC's recursive definition (for tests of the fast paths)."""
    n = len(leaves)
    if n == 0:
        return hasher.empty()
    if n == 1:
        return hasher.leaf(leaves[0])
    k = split_point(n)
    return hasher.node(reference_root(hasher, leaves[:k]), reference_root(hasher, leaves[k:]))


# -- verification (RFC 9162 §2.1.3.2 and §2.1.4.2) ---------------------------------------------
def root_from_inclusion(hasher: Hasher, leaf_index: int, tree_size: int, leaf_hash: bytes,
                        proof: Sequence[bytes]) -> bytes | None:
    """The root an inclusion proof leads to, or None where the RFC says to fail."""
    if not 0 <= leaf_index < tree_size:  # step 1
        return None
    if len(leaf_hash) != hasher.size or any(len(p) != hasher.size for p in proof):
        return None
    fn, sn, r = leaf_index, tree_size - 1, leaf_hash  # steps 2-3
    for p in proof:  # step 4
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = hasher.node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = hasher.node(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None  # step 5 (root compared by the caller)


def verify_inclusion(hasher: Hasher, leaf_index: int, tree_size: int, leaf_hash: bytes,
                     proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` put ``leaf_hash`` at ``leaf_index`` under ``root_hash``?"""
    got = root_from_inclusion(hasher, leaf_index, tree_size, leaf_hash, proof)
    return got is not None and len(root_hash) == hasher.size and got == root_hash


def verify_consistency(hasher: Hasher, size1: int, size2: int, proof: Sequence[bytes],
                       root1: bytes, root2: bytes) -> bool:
    """RFC 9162 §2.1.4.2: does tree ``(size2, root2)`` only append to ``(size1, root1)``?

    The RFC defines the algorithm for ``0 < size1 < size2``. The edges follow the reference
    verifier (transparency-dev/merkle ``VerifyConsistency``), written down in docs/ledger.md:
    every root and proof hash must have the hash's length; equal sizes are consistent only with an
    empty proof and equal roots; a proof *from* the empty tree to a larger one is refused ("from
    empty tree is meaningless": it would vouch for any tree at all).
    """
    n = hasher.size
    if size1 < 0 or size2 < size1 or len(root1) != n or len(root2) != n:
        return False
    if any(len(p) != n for p in proof):
        return False
    if size1 == size2:
        return not proof and root1 == root2
    if size1 == 0 or not proof:
        return False  # from the empty tree: meaningless; step 1: an empty path fails
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # step 2: first is an exact power of 2
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1  # step 3
    while fn & 1:  # step 4
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]  # step 5
    for c in path[1:]:  # step 6
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = hasher.node(c, fr)
            sr = hasher.node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = hasher.node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == root1 and sr == root2 and sn == 0  # step 7
