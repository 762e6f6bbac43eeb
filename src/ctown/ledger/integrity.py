"""``ctown ledger verify``: does the database still say what the log committed to?

1. Recompute the whole tree from the stored leaf hashes and compare every stored subtree hash.
2. Check every signed checkpoint: signature by the log key, origin, and root at its size.
3. Re-derive every leaf from the source row it covers: a changed row is *altered*, a missing one
   *deleted*; a source row below the log's high-water mark that no leaf covers was *inserted*.
Rows above the high-water mark are *pending* (not yet appended). Every platform writer appends in
its own commit (:mod:`ctown.ledger.keeping`), so records still pending when the newest checkpoint
is older than ``max_pending_age`` were written outside the platform, or by a process that could not
append: a problem (*pending*), not a footnote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.capabilities import optional_module
from ctown.db import utcnow
from ctown.ledger import merkle, service
from ctown.ledger.models import LedgerCheckpoint, LedgerLog
from ctown.ledger.note import NoteError, Verifier, open_checkpoint
from ctown.ledger.sources import Source, all_sources, leaf_bytes
from ctown.ledger.store import OFFSETS, TILE_HEIGHT, TILE_WIDTH, DbTree

MAX_LISTED = 1000


@dataclass
class Problem:
    problem: str  # altered | deleted | inserted | pending | tree | checkpoint
    kind: str | None = None
    ref: int | None = None
    leaf_index: int | None = None
    detail: str = ""

    def line(self) -> str:
        what = f"{self.kind} #{self.ref}" if self.kind else "ledger"
        where = f" (leaf {self.leaf_index})" if self.leaf_index is not None else ""
        return f"[{self.problem.upper()}] {what}{where}: {self.detail}"


@dataclass
class Report:
    origin: str = ""
    hash_alg: str = ""
    size: int = 0
    root: str = ""
    checkpoints: int = 0
    records_checked: int = 0
    #: Records deleted by law (5-year deletion of negative records, 条例 art. 16): the ledger keeps
    #: their hash, the purge itself is an audit event on the ledger listing them.
    erased: int = 0
    erasable: dict[str, set[int]] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_LISTED:
            self.problems.append(problem)

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "origin": self.origin, "hash": self.hash_alg, "size": self.size,
                "root": self.root, "checkpoints": self.checkpoints,
                "records_checked": self.records_checked, "pending": self.pending,
                "problem_count": self.problem_count,
                "problems": [p.__dict__ for p in self.problems]}

    def lines(self) -> Iterator[str]:
        yield f"账本 / log {self.origin} ({self.hash_alg}): {self.size} leaves, root {self.root}"
        yield (f"检查 / checked: {self.checkpoints} checkpoints, {self.records_checked} records; "
               f"pending {sum(self.pending.values())}")
        for p in self.problems:
            yield p.line()
        yield ("一致 / OK: the log and the database agree" if self.ok else
               f"不一致 / FAILED: {self.problem_count} problem(s)")


def verify_log(session: Session, max_pending_age: dt.timedelta | None = None) -> Report:
    """Check the log against the database; ``max_pending_age``: how long records may stay
    pending before it is a problem (None: pending records are only counted)."""
    log = service.get_log(session)
    report = Report()
    if log is None:
        # No log yet: nothing is tamper-evident, and the report says how much is waiting.
        report.pending = {kind: source.count(session) for kind, source in all_sources().items()}
        return report
    report.origin, report.hash_alg, report.size = log.origin, log.hash_alg, log.size
    tree = DbTree(session, merkle.get_hasher(log.hash_alg))
    checkpoints = list(session.query(LedgerCheckpoint).order_by(LedgerCheckpoint.tree_size))
    roots, leaf_hashes = _recompute(tree, log, {c.tree_size for c in checkpoints}, report)
    report.root = roots.get(log.size, b"").hex()
    _check_checkpoints(log, checkpoints, roots, report)
    _check_records(session, tree, leaf_hashes, report)
    if max_pending_age is not None:
        since = checkpoints[-1].created_at if checkpoints else log.created_at
        _check_pending_age(report, utcnow() - since, max_pending_age)
    return report


def _check_pending_age(report: Report, age: dt.timedelta, limit: dt.timedelta) -> None:
    if age <= limit:
        return
    minutes = int(age.total_seconds() // 60)
    for kind, count in report.pending.items():
        if count:
            report.add(Problem("pending", kind, detail=(
                f"{count} 条记录未上链，最新检查点已是 {minutes} 分钟前 / {count} records not on "
                f"the log, the newest checkpoint is {minutes} minutes old")))


def _expected_nodes(hasher: merkle.Hasher, frontier: list[bytes], index: int,
                    leaf_hash: bytes) -> bytes:
    return leaf_hash + merkle.append_leaves(hasher, frontier, index, [leaf_hash])[0]


def _recompute(tree: DbTree, log: LedgerLog, sizes: set[int], report: Report
               ) -> tuple[dict[int, bytes], list[bytes]]:
    """Walk the tiles in order, rebuilding every stored hash; roots at the checkpoint sizes."""
    hasher, hs = tree.hasher, tree.hasher.size
    frontier: list[bytes] = []
    roots = {0: hasher.empty()} if 0 in sizes or log.size == 0 else {}
    leaf_hashes: list[bytes] = []
    expected_tile = 0
    last_tile = (log.size - 1) >> TILE_HEIGHT if log.size else -1
    for tile, blob in tree.iter_tiles(0, max(last_tile, 0) + 1_000_000):
        if tile > last_tile:
            report.add(Problem("tree", detail=f"tile {tile} lies beyond the log size {log.size}"))
            continue
        if tile != expected_tile:
            report.add(Problem("tree", leaf_index=expected_tile << TILE_HEIGHT,
                               detail=f"tiles {expected_tile}–{tile - 1} are missing"))
            return roots, leaf_hashes
        expected_tile = tile + 1
        pos = 0
        for j in range(TILE_WIDTH):
            index = (tile << TILE_HEIGHT) + j
            if index >= log.size:
                break
            leaf_hash = blob[pos:pos + hs]
            want = _expected_nodes(hasher, frontier, index, leaf_hash)
            if blob[pos:pos + len(want)] != want or pos != OFFSETS[j] * hs:
                report.add(Problem("tree", leaf_index=index,
                                   detail="stored subtree hashes differ from the leaves"))
            pos += len(want)
            leaf_hashes.append(leaf_hash)
            if index + 1 in sizes or index + 1 == log.size:
                roots[index + 1] = merkle.fold(hasher, frontier)
        if pos != len(blob):
            report.add(Problem("tree", leaf_index=tile << TILE_HEIGHT,
                               detail=f"tile {tile} holds {len(blob) - pos} unexpected bytes"))
    if len(leaf_hashes) < log.size:
        report.add(Problem("tree", leaf_index=len(leaf_hashes),
                           detail=f"leaves {len(leaf_hashes)}–{log.size - 1} are missing"))
    return roots, leaf_hashes


def _check_checkpoints(log: LedgerLog, checkpoints: list[LedgerCheckpoint],
                       roots: dict[int, bytes], report: Report) -> None:
    verifier = Verifier.from_vkey(log.vkey)
    for cp in checkpoints:
        report.checkpoints += 1
        try:
            body, _ = open_checkpoint(cp.note, verifier)
        except NoteError as exc:
            report.add(Problem("checkpoint", detail=f"checkpoint {cp.id}: {exc}"))
            continue
        root = roots.get(body.size)
        if body.origin != log.origin or body.size != cp.tree_size:
            report.add(Problem("checkpoint", detail=f"checkpoint {cp.id} names another tree"))
        elif root is None:
            report.add(Problem("checkpoint", detail=(
                f"checkpoint {cp.id} signs size {body.size} but the log has {log.size} leaves")))
        elif body.root_hash != root:
            report.add(Problem("checkpoint", detail=(
                f"checkpoint {cp.id} (size {body.size}) signed root {body.root_hash.hex()}, "
                f"the database gives {root.hex()}")))


def _check_records(session: Session, tree: DbTree, leaf_hashes: list[bytes],
                   report: Report) -> None:
    sources = all_sources()
    covered: dict[str, set[int]] = {kind: set() for kind in sources}
    next_leaf = 0
    for run in tree.runs():
        if run.first_leaf != next_leaf:
            report.add(Problem("tree", leaf_index=next_leaf,
                               detail="the leaf-to-record map has a gap or an overlap"))
        next_leaf = run.first_leaf + len(run.refs)
        source = sources.get(run.kind)
        if source is None:
            report.add(Problem("tree", kind=run.kind, leaf_index=run.first_leaf,
                               detail="leaves of an unknown record kind"))
            continue
        covered[run.kind].update(run.refs)
        if not report.erasable:
            report.erasable = lawful_erasures(session)
        _check_run(session, source, run.first_leaf, run.refs, leaf_hashes, tree.hasher, report)
    if next_leaf != report.size:
        report.add(Problem("tree", leaf_index=next_leaf,
                           detail=f"records are mapped for {next_leaf} of {report.size} leaves"))
    for kind, source in sources.items():
        refs = covered[kind]
        high = max(refs) if refs else None
        if high is not None:
            for ref in source.ids_upto(session, high):
                if ref not in refs:
                    report.add(Problem("inserted", kind, ref, None,
                                       "row is not in the ledger although later rows are"))
        report.pending[kind] = source.count(session, after=high)


def _check_run(session: Session, source: Source, first_leaf: int, refs: tuple[int, ...],
               leaf_hashes: list[bytes], hasher: merkle.Hasher, report: Report) -> None:
    for start in range(0, len(refs), 5000):
        chunk = refs[start:start + 5000]
        records = source.by_ids(session, chunk)
        for offset, ref in enumerate(chunk, start):
            index = first_leaf + offset
            report.records_checked += 1
            record = records.get(ref)
            if record is None and ref in report.erasable.get(source.kind, ()):
                report.erased += 1
                continue
            if record is None:
                report.add(Problem("deleted", source.kind, ref, index,
                                   "the ledger has this record, the database does not"))
                continue
            stored = leaf_hashes[index] if index < len(leaf_hashes) else None
            if hasher.leaf(leaf_bytes(source.kind, ref, record)) != stored:
                report.add(Problem("altered", source.kind, ref, index,
                                   "the row differs from what the ledger committed to"))


def lawful_erasures(session: Session) -> dict[str, set[int]]:
    """Ids deleted by the 5-year rule, as listed by the purge's own audit events."""
    models = optional_module("privacy", "models")
    event = getattr(models, "AuditEvent", None) if models else None
    erased: dict[str, set[int]] = {"_": set()}
    if event is None:
        return erased
    for detail in session.scalars(sa.select(event.detail).where(event.action == "negative.purge")):
        for kind, ids in (detail or {}).get("erased", {}).items():
            erased.setdefault(kind, set()).update(int(i) for i in ids)
    return erased
