"""Offline vulnerability audit: the pins of a lock file against an OSV advisory export.

    python tools/osv_audit.py requirements.lock /media/osv            # a folder of OSV JSON files
    python tools/osv_audit.py requirements.lock /media/osv/all.zip    # osv.dev's PyPI export
    make audit OSV=/media/osv

What a county's operators receive on media, without network: the OSV export of the PyPI
ecosystem (https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip, one advisory per JSON
file — PYSEC, GHSA and others), or a folder of such files at any depth. Independent of ctown: it
needs Python and ``packaging`` only.

An advisory affects a pin when the pinned version is listed in ``affected[].versions`` or lies in
an ``ECOSYSTEM`` range (events ``introduced`` / ``fixed`` / ``last_affected``, evaluated in version
order as the OSV schema says; ``GIT`` ranges name commits and are skipped). Withdrawn advisories
are skipped. Advisories that are aliases of one another (a PYSEC record and its GHSA) are one
finding. Exit 0: no finding; 1: findings (each printed); 2: unusable input — an export with no
PyPI advisory at all is refused rather than reported clean (a wrong path must not pass).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*===?\s*([^\s;\\#]+)")
_EVENT_ORDER = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}


def normalise(name: str) -> str:
    """PEP 503: ``Jinja2`` and ``jinja2``, ``typing_extensions`` and ``typing-extensions``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(path: Path) -> dict[str, str]:
    """``name==version`` pins of a requirements file (hashes, comments and markers ignored)."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := _PIN.match(line.strip()):
            pins[normalise(m[1])] = m[2]
    return pins


def _documents(source: Path) -> Iterator[tuple[str, bytes]]:
    if source.is_dir():
        for path in sorted(source.rglob("*.json")):
            yield str(path), path.read_bytes()
    elif zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as archive:
            for name in sorted(archive.namelist()):
                if name.endswith(".json"):
                    yield f"{source}:{name}", archive.read(name)
    else:
        raise SystemExit(f"osv_audit: {source} is neither a folder nor a zip file")


def advisories(source: Path) -> Iterator[dict[str, Any]]:
    """Every advisory object of the export (a file may hold one, a list, or ``{"vulns": […]}``)."""
    for where, data in _documents(source):
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise SystemExit(f"osv_audit: {where}: not JSON ({exc})") from None
        items = doc if isinstance(doc, list) else doc.get("vulns", [doc]) if isinstance(
            doc, dict) else []
        yield from (item for item in items if isinstance(item, dict) and "id" in item)


def _version(text: object) -> Version | None:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def _in_range(pinned: Version, events: list[dict[str, str]]) -> tuple[bool, Version | None]:
    """OSV's evaluation of one ECOSYSTEM range; also the first fixed version above the pin."""
    ordered: list[tuple[bool, Version, int, str]] = []  # introduced "0" first: every version
    for event in events:
        for kind, value in event.items():
            zero = kind == "introduced" and value == "0"
            version = Version("0") if zero else _version(value)
            if kind in _EVENT_ORDER and version is not None:
                ordered.append((not zero, version, _EVENT_ORDER[kind], kind))
    ordered.sort()
    affected = False
    for later, version, _order, kind in ordered:
        if kind == "introduced" and (not later or pinned >= version):
            affected = True
        elif (kind == "fixed" and pinned >= version) or (kind == "last_affected"
                                                          and pinned > version):
            affected = False
    fixed = min((v for _z, v, _o, k in ordered if k == "fixed" and v > pinned), default=None)
    return affected, fixed


def affects(affected: dict[str, Any], pin: str) -> tuple[bool, Version | None]:
    """Whether one ``affected[]`` entry covers the pinned version, and the version that fixes it."""
    pinned = _version(pin)
    listed = {str(v) for v in affected.get("versions") or ()}
    hit = pin in listed or (pinned is not None and pinned in {_version(v) for v in listed})
    fixes: list[Version] = []
    for rng in affected.get("ranges") or ():
        if rng.get("type") != "ECOSYSTEM" or pinned is None:
            continue
        inside, fixed = _in_range(pinned, rng.get("events") or [])
        if inside:
            hit = True
            fixes += [fixed] if fixed is not None else []
        elif hit and fixed is not None:  # listed by version: the range still names the fix
            fixes.append(fixed)
    return hit, min(fixes, default=None)


@dataclass
class Finding:
    package: str
    pinned: str
    ids: set[str] = field(default_factory=set)      # advisory ids that matched
    aliases: set[str] = field(default_factory=set)  # every id and alias of the group
    fixed: Version | None = None

    @property
    def primary(self) -> str:
        rank = {"PYSEC": 0, "GHSA": 1}
        return min(self.ids, key=lambda i: (rank.get(i.split("-")[0], 2), i))

    def line(self) -> str:
        others = sorted(self.aliases - {self.primary})
        fixed = f"fixed in {self.fixed}" if self.fixed else "no fixed version"
        return (f"{self.package} {self.pinned}: {self.primary}"
                f"{' (' + ', '.join(others) + ')' if others else ''} — {fixed}")

    def as_json(self) -> dict[str, Any]:
        return {"package": self.package, "version": self.pinned, "id": self.primary,
                "aliases": sorted(self.aliases - {self.primary}),
                "fixed": str(self.fixed) if self.fixed else None}


@dataclass
class Audit:
    findings: list[Finding]
    read: int        # PyPI advisories read
    withdrawn: int   # skipped
    newest: str      # latest ``modified`` of the export: how old the media is


def audit(pins: dict[str, str], docs: Iterable[dict[str, Any]]) -> Audit:
    groups: dict[str, list[Finding]] = {}
    read = withdrawn = 0
    newest = ""
    for adv in docs:
        entries = [a for a in adv.get("affected") or ()
                   if (a.get("package") or {}).get("ecosystem") == "PyPI"]
        if not entries:
            continue
        read += 1
        newest = max(newest, str(adv.get("modified") or ""))
        if adv.get("withdrawn"):
            withdrawn += 1
            continue
        for entry in entries:
            name = normalise(str(entry["package"].get("name", "")))
            if name not in pins:
                continue
            hit, fixed = affects(entry, pins[name])
            if hit:
                _merge(groups.setdefault(name, []), name, pins[name], adv, fixed)
    findings = sorted((f for fs in groups.values() for f in fs), key=lambda f: (f.package,
                                                                                  f.primary))
    return Audit(findings, read, withdrawn, newest)


def _merge(found: list[Finding], name: str, pin: str, adv: dict[str, Any],
           fixed: Version | None) -> None:
    """One finding per vulnerability: an advisory joins every finding it shares an id with."""
    names = {str(adv["id"]), *map(str, adv.get("aliases") or ())}
    joined = [f for f in found if f.aliases & names]
    finding = Finding(name, pin, {str(adv["id"])}, names, fixed)
    for other in joined:
        found.remove(other)
        finding.ids |= other.ids
        finding.aliases |= other.aliases
        finding.fixed = max(filter(None, (finding.fixed, other.fixed)), default=None)
    found.append(finding)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path, help="requirements file with name==version pins")
    parser.add_argument("osv", type=Path, help="folder of OSV JSON advisories, or a zip of them")
    parser.add_argument("--json", action="store_true", help="findings as JSON")
    args = parser.parse_args(argv)
    pins = read_lock(args.lock)
    if not pins:
        print(f"osv_audit: no name==version pins in {args.lock}", file=sys.stderr)
        return 2
    result = audit(pins, advisories(args.osv))
    if result.read == 0:
        print(f"osv_audit: no PyPI advisory in {args.osv}: wrong path, or not an OSV export",
              file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps([f.as_json() for f in result.findings], indent=1))
    else:
        for finding in result.findings:
            print(finding.line())
    print(f"{len(result.findings)} known vulnerabilities in {len(pins)} pinned packages "
          f"({result.read} PyPI advisories read, {result.withdrawn} withdrawn skipped; "
          f"newest modified {result.newest or 'unknown'})", file=sys.stderr)
    return 1 if result.findings else 0


if __name__ == "__main__":
    sys.exit(main())
