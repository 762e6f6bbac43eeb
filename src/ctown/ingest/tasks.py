"""``ctown ingest PATH...``: plan the files (regions first, departments in dependency order) and
load each one in a transaction of its own.

A folder written by ``ctown synth`` holds ``regions.csv``, one sub-folder per department, named
by its code, and ``consents/`` (the households' signed collection consents, 信息采集授权书);
folders starting with ``_`` (the generator's hidden truth) are skipped. The consent register loads
right after the departments that create the subjects (psb, samr) and before the others, so the
consent-required values of households that signed go straight into the credit file and only the
others are held (:mod:`ctown.ingest.hold`). A file given directly takes its department from
``--department`` or from the folder it sits in.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from ctown.crypto import FieldCipher
from ctown.db import exclusive, transaction
from ctown.errors import DomainError
from ctown.i18n import Message, _
from ctown.ingest.mapping import dependency_order, load_mappings
from ctown.ingest.readahead import Feed, ReadAhead
from ctown.ingest.readers import ReadError
from ctown.ingest.resolve import Directory
from ctown.ingest.service import LoadReport, load_file, record_failure
from ctown.registry.tasks import load_regions

FEED_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".json", ".jsonl", ".ndjson")
REGIONS = "regions.csv"
CONSENTS = "consents"


@dataclass(frozen=True)
class Planned:
    path: Path
    department: str | None  # None: the regions file or the consent register
    kind: str = "feed"  # regions | feed | consents


class PlanError(ValueError):
    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


def _feed_files(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FEED_SUFFIXES
                   and not p.name.startswith((".", "_", "~$")))
    for p in found:
        _contained(folder, p)
    return found


def _contained(root: Path, path: Path) -> None:
    """A folder load reads only what is inside the folder: a link to elsewhere (``../../etc``,
    another county's export) is refused before anything is read (#12 item 4)."""
    if not path.resolve().is_relative_to(root.resolve()):
        raise PlanError(Message(_("{path} 指向所给文件夹之外（{target}），已拒绝：请把文件本身放进文件夹"),
                                {"path": str(path), "target": str(path.resolve())}))


def plan(paths: list[Path], department: str | None = None) -> tuple[list[Planned], list[str]]:
    """The files to load, in order, and the folders skipped (with why)."""
    mappings = load_mappings()
    codes = set(mappings)
    regions: list[Planned] = []
    files: list[Planned] = []
    consents: list[Planned] = []
    skipped: list[str] = []
    for path in paths:
        if not path.exists():
            raise PlanError(Message(_("路径 {path} 不存在"), {"path": str(path)}))
        if path.is_file() and path.name == REGIONS and department is None:
            regions.append(Planned(path, None, "regions"))
            continue
        if department is None and ((path.is_dir() and path.name.lower() == CONSENTS) or (
                path.is_file() and path.parent.name.lower() == CONSENTS)):
            consents += [Planned(p, None, CONSENTS)
                         for p in ([path] if path.is_file() else _feed_files(path))]
            continue
        if path.is_file():
            files.append(Planned(path, _department_of(path, path.parent.name, department, codes)))
            continue
        if (path / REGIONS).is_file() and department is None:
            regions.append(Planned(path / REGIONS, None, "regions"))
        if path.name.lower() in codes and department in (None, path.name.lower()):
            files += [Planned(p, path.name.lower()) for p in _feed_files(path)]
            continue
        if department is not None and path.name.lower() not in codes:
            files += [Planned(p, department) for p in _feed_files(path) if p.name != REGIONS]
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            if sub.name.startswith(("_", ".")):
                continue
            _contained(path, sub)
            if sub.name.lower() == CONSENTS and department is None:
                consents += [Planned(p, None, CONSENTS) for p in _feed_files(sub)]
                continue
            if sub.name.lower() not in codes:
                skipped.append(str(sub))
                continue
            if department in (None, sub.name.lower()):
                files += [Planned(p, sub.name.lower()) for p in _feed_files(sub)]
    order = {c: i for i, c in enumerate(dependency_order({f.department for f in files
                                                          if f.department}))}
    files.sort(key=lambda f: (order.get(f.department or "", -1), str(f.path)))
    first = [f for f in files if mappings[f.department or ""].creates_subjects]
    rest = [f for f in files if not mappings[f.department or ""].creates_subjects]
    return regions + first + sorted(consents, key=lambda f: str(f.path)) + rest, skipped


def _department_of(path: Path, folder: str, department: str | None, codes: set[str]) -> str:
    code = department or (folder.lower() if folder.lower() in codes else None)
    if code is None:
        raise PlanError(Message(_("无法确定文件 {path} 属于哪个部门：请用 --department 指定"),
                                {"path": str(path)}))
    if code not in codes:
        raise PlanError(Message(_("未知的部门代码 {code}（可用：{codes}）"),
                                {"code": code, "codes": ", ".join(sorted(codes))}))
    return code


def read_regions(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        yield from csv.DictReader(fh)


CONSENT_KEYS = ("received", "granted", "duplicates", "quarantined", "released_values")


@dataclass
class Totals:
    reports: list[LoadReport]
    regions: dict[str, int]
    skipped: list[str]
    consents: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.reports) or any(
            c.get("status") == "failed" for c in self.consents)

    def to_json(self) -> dict[str, Any]:
        keys = ("received", "accepted", "quarantined", "held", "duplicates", "values",
                "held_values")
        totals = {k: sum(getattr(r, k) for r in self.reports) for k in keys}
        # The consent register is not a feed: its rows are counted apart from the feeds'.
        consents = {k: sum(c.get(k, 0) for c in self.consents) for k in CONSENT_KEYS}
        return {**totals, "consents": {**consents, "files": len(self.consents),
                                       "details": self.consents},
                "files": len(self.reports),
                "failed_files": sum(r.status == "failed" for r in self.reports),
                "already_loaded_files": sum(r.status == "already_loaded" for r in self.reports),
                "regions": self.regions, "skipped": self.skipped,
                "details": [r.to_json() for r in self.reports]}


Hook = Callable[[Planned, str, int], None]  # (file, event: start|rows|end, rows)


def run(factory: sessionmaker[Session], cipher: FieldCipher, planned: list[Planned], *,
        actor_id: int | None = None, hook: Hook | None = None,
        skipped: list[str] | None = None, waiting: Callable[[], None] | None = None) -> Totals:
    """Load the planned files; a file that cannot be read is recorded as failed and the others
    still load. Each file is loaded whole or not at all: small files share a transaction
    (:class:`Group`), a long one has its own.

    One load at a time per database (导入锁): a second ``ctown ingest`` started meanwhile waits
    (``waiting`` is told), then finds the batches done and loads nothing again. Without it two
    loads of one county at once ended with the second failing on a batch's key, or — the
    consent register being no batch — with every household's consent granted twice (362
    grants for 181 households on PostgreSQL; #12 item 8)."""
    with exclusive(factory.kw["bind"], "ingest", waiting):
        return _run(factory, cipher, planned, actor_id=actor_id, hook=hook, skipped=skipped)


def _run(factory: sessionmaker[Session], cipher: FieldCipher, planned: list[Planned], *,
         actor_id: int | None, hook: Hook | None, skipped: list[str] | None) -> Totals:
    reports: list[LoadReport] = []
    consents: list[dict[str, Any]] = []
    regions: dict[str, int] = {}
    ahead: ReadAhead | None = None
    statistics = Statistics(factory)
    directory = Directory()
    group = Group(factory, statistics.committed)
    try:
        for item in planned:
            if hook:
                hook(item, "start", 0)
            if item.kind != "feed":
                group.commit()
            if item.kind == "regions":
                with transaction(factory) as session:
                    regions = load_regions(session, read_regions(item.path), actor=actor_id,
                                           source="regions")
                continue
            if item.kind == CONSENTS:
                consents.append(_consents_one(factory, cipher, item))
            else:
                # Started after the regions: validation checks villages against them.
                ahead = ahead or ReadAhead(factory, [
                    (p.path, p.department) for p in planned
                    if p.kind == "feed" and p.department is not None])  # (a feed always has one)
                reports.append(_load_one(group, cipher, item, actor_id, hook, ahead,
                                         directory))
                statistics.after(reports[-1])
                group.add(reports[-1].received)
            if hook:
                hook(item, "end", 0)
        group.commit()
    finally:
        group.close()  # after an error: rolls back the files not yet committed (a rerun loads them)
        if ahead is not None:
            ahead.close()
    return Totals(reports, regions, skipped or [], consents)


class Group:
    """Small files share a transaction (组提交), committed every ``ROWS`` rows received.

    A commit writes every page the transaction changed; the record keys are spread by hash, so
    each file changed pages all over their index, and committing file by file rewrote them
    hundreds of times (a sixth of a county load on SQLite). Files still load whole or not at
    all: a file in a group was read to its end before any of its rows were written (the
    read-ahead), so it cannot fail half-way; a process killed mid-group loses the group's
    uncommitted files, and a rerun loads exactly those (their batches are not ``done``).
    """

    ROWS = 50_000

    def __init__(self, factory: sessionmaker[Session], on_commit: Callable[[], None]) -> None:
        self.factory, self.on_commit = factory, on_commit
        self.session: Session | None = None
        self.rows = 0

    def get(self) -> Session:
        if self.session is None:
            self.session = self.factory()
            self.session.begin()
        return self.session

    def add(self, rows: int) -> None:
        """Count a loaded file; commit when the group is full."""
        self.rows += rows
        if self.rows >= self.ROWS:
            self.commit()

    def commit(self) -> None:
        if self.session is not None:
            self.session.commit()
            self.close()
            self.on_commit()

    def close(self) -> None:
        if self.session is not None:
            self.session.close()  # rolls back what was not committed
        self.session, self.rows = None, 0


class Statistics:
    """Keeps PostgreSQL's planner statistics in step with a long load (统计信息).

    The look-ups of every file (subjects by blind index, stored record keys) are planned from
    statistics taken when the tables were small; autovacuum catches up only now and then, and
    meanwhile the planner scans whole tables per file. An ``ANALYZE`` each time the rows written
    by this run grow fourfold (and after the registry departments, which create the subjects)
    costs a few tenths of a second each time, a handful of times per county.
    """

    TABLES = ("subjects", "ingest_record_keys", "current_values")
    FIRST = 10_000

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.pg = factory.kw["bind"].dialect.name == "postgresql"
        self.rows, self.next = 0, self.FIRST
        self.registry, self.due = True, False
        self.creators = {c for c, m in load_mappings().items() if m.creates_subjects}

    def after(self, report: LoadReport) -> None:
        """Count a loaded file (its rows become visible at the next commit)."""
        if not self.pg or report.status != "loaded":
            return
        self.rows += report.accepted
        self.due = self.due or self.rows >= self.next
        if self.registry and report.department not in self.creators:
            self.registry, self.due = False, True  # the register is complete: look again

    def committed(self) -> None:
        if not self.due:
            return
        self.due, self.next = False, max(self.next, self.rows) * 4
        with transaction(self.factory) as session:
            for table in self.TABLES:
                session.execute(sa.text(f"ANALYZE {table}"))


def _consents_one(factory: sessionmaker[Session], cipher: FieldCipher, item: Planned
                  ) -> dict[str, Any]:
    from ctown.ingest.consents import import_consents

    try:
        with transaction(factory) as session:
            return {"status": "loaded", **import_consents(session, cipher, item.path)}
    except (ReadError, DomainError) as exc:
        return {"file": str(item.path), "status": "failed", "error": exc.message.both()}


def _load_one(group: Group, cipher: FieldCipher, item: Planned, actor_id: int | None,
              hook: Hook | None, ahead: ReadAhead, directory: Directory) -> LoadReport:
    assert item.department is not None
    department = item.department
    feed = None
    try:
        feed = ahead.next_file()  # raises what reading raised, before any row is written
        if feed.streamed:  # a long file: a transaction of its own, as it may fail half-way
            group.commit()
            with transaction(group.factory) as session:
                return _load(session, cipher, item, actor_id, hook, feed, directory)
        return _load(group.get(), cipher, item, actor_id, hook, feed, directory)
    except (ReadError, DomainError) as exc:
        # Only a failure before the file's first write gets here from a group: reading is
        # over, and load_file checks its department before it writes.
        return record_failure(group.get(), department, item.path, exc.message, actor_id)
    finally:
        if feed is not None:
            ahead.skip_rest(feed)  # a file given up half-way: the next one must line up


def _load(session: Session, cipher: FieldCipher, item: Planned, actor_id: int | None,
          hook: Hook | None, feed: Feed, directory: Directory) -> LoadReport:
    assert item.department is not None
    return load_file(session, cipher, item.path, item.department, actor_id=actor_id,
                     progress=(lambda n: hook(item, "rows", n)) if hook else None,
                     feed=feed, directory=directory)
