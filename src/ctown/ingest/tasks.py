"""``ctown ingest PATH...``: plan the files (regions first, departments in dependency order) and
load each one in a transaction of its own.

A folder written by ``ctown synth`` holds ``regions.csv`` and one sub-folder per department,
named by its code; folders starting with ``_`` (the generator's hidden truth) are skipped. A file
given directly takes its department from ``--department`` or from the folder it sits in.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from ctown.db import transaction
from ctown.errors import DomainError
from ctown.i18n import Message, _
from ctown.ingest.mapping import dependency_order, load_mappings
from ctown.ingest.readers import ReadError
from ctown.ingest.service import LoadReport, load_file, record_failure
from ctown.privacy.crypto import FieldCipher
from ctown.registry.tasks import load_regions

FEED_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls", ".json", ".jsonl", ".ndjson")
REGIONS = "regions.csv"


@dataclass(frozen=True)
class Planned:
    path: Path
    department: str | None  # None: the regions file


class PlanError(ValueError):
    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


def _feed_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FEED_SUFFIXES
                  and not p.name.startswith((".", "_", "~$")))


def plan(paths: list[Path], department: str | None = None) -> tuple[list[Planned], list[str]]:
    """The files to load, in order, and the folders skipped (with why)."""
    codes = set(load_mappings())
    regions: list[Planned] = []
    files: list[Planned] = []
    skipped: list[str] = []
    for path in paths:
        if not path.exists():
            raise PlanError(Message(_("路径 {path} 不存在"), {"path": str(path)}))
        if path.is_file() and path.name == REGIONS and department is None:
            regions.append(Planned(path, None))
            continue
        if path.is_file():
            files.append(Planned(path, _department_of(path, path.parent.name, department, codes)))
            continue
        if (path / REGIONS).is_file() and department is None:
            regions.append(Planned(path / REGIONS, None))
        if path.name.lower() in codes and department in (None, path.name.lower()):
            files += [Planned(p, path.name.lower()) for p in _feed_files(path)]
            continue
        if department is not None and path.name.lower() not in codes:
            files += [Planned(p, department) for p in _feed_files(path) if p.name != REGIONS]
        for sub in sorted(p for p in path.iterdir() if p.is_dir()):
            if sub.name.startswith(("_", ".")):
                continue
            if sub.name.lower() not in codes:
                skipped.append(str(sub))
                continue
            if department in (None, sub.name.lower()):
                files += [Planned(p, sub.name.lower()) for p in _feed_files(sub)]
    order = {c: i for i, c in enumerate(dependency_order({f.department for f in files
                                                          if f.department}))}
    files.sort(key=lambda f: (order.get(f.department or "", -1), str(f.path)))
    return regions + files, skipped


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


@dataclass
class Totals:
    reports: list[LoadReport]
    regions: dict[str, int]
    skipped: list[str]

    @property
    def failed(self) -> bool:
        return any(r.status == "failed" for r in self.reports)

    def to_json(self) -> dict[str, Any]:
        keys = ("received", "accepted", "quarantined", "held", "duplicates", "values")
        totals = {k: sum(getattr(r, k) for r in self.reports) for k in keys}
        return {**totals, "files": len(self.reports),
                "failed_files": sum(r.status == "failed" for r in self.reports),
                "already_loaded_files": sum(r.status == "already_loaded" for r in self.reports),
                "regions": self.regions, "skipped": self.skipped,
                "details": [r.to_json() for r in self.reports]}


Hook = Callable[[Planned, str, int], None]  # (file, event: start|rows|end, rows)


def run(factory: sessionmaker[Session], cipher: FieldCipher, planned: list[Planned], *,
        actor_id: int | None = None, hook: Hook | None = None,
        skipped: list[str] | None = None) -> Totals:
    """Load the planned files, each in its own transaction; a file that cannot be read is
    recorded as failed and the others still load."""
    reports: list[LoadReport] = []
    regions: dict[str, int] = {}
    for item in planned:
        if hook:
            hook(item, "start", 0)
        if item.department is None:
            with transaction(factory) as session:
                regions = load_regions(session, read_regions(item.path), actor=actor_id,
                                       source="regions")
            continue
        reports.append(_load_one(factory, cipher, item, actor_id, hook))
        if hook:
            hook(item, "end", 0)
    return Totals(reports, regions, skipped or [])


def _load_one(factory: sessionmaker[Session], cipher: FieldCipher, item: Planned,
              actor_id: int | None, hook: Hook | None) -> LoadReport:
    assert item.department is not None
    department = item.department
    try:
        with transaction(factory) as session:
            return load_file(session, cipher, item.path, department, actor_id=actor_id,
                             progress=(lambda n: hook(item, "rows", n)) if hook else None)
    except (ReadError, DomainError) as exc:
        with transaction(factory) as session:
            return record_failure(session, department, item.path, exc.message, actor_id)
