"""What a change does (配置差异): file by file, the configuration in effect before and after.

Both sides are the files the loaders would read — the packaged defaults with a folder's files put
over them — so taking a county's file away shows as the packaged file coming back.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ctown import configdir

COUNTY, DEFAULT = "county", "default"


@lru_cache(maxsize=1)
def _packaged() -> dict[str, bytes]:
    return {name: path.read_bytes() for name, path in configdir.defaults().items()}


def effective(overrides: Mapping[str, bytes]) -> dict[str, tuple[bytes, str]]:
    """Name → (content, origin) of the configuration in effect with these folder files."""
    out = {name: (data, DEFAULT) for name, data in _packaged().items()}
    out.update({name: (data, COUNTY) for name, data in overrides.items()})
    return dict(sorted(out.items()))


def _text(data: bytes | None) -> list[str]:
    return [] if data is None else data.decode("utf-8-sig", errors="replace").splitlines()


@dataclass(frozen=True)
class Row:
    """A line of a side-by-side diff: ``tag`` is equal, replace, delete or insert."""

    tag: str
    left_no: int | None
    left: str
    right_no: int | None
    right: str


@dataclass(frozen=True)
class FileChange:
    """One file that a change adds, removes or changes."""

    name: str
    status: str  # added | removed | changed
    before: bytes | None
    after: bytes | None
    before_origin: str | None
    after_origin: str | None

    def unified(self, context: int = 3) -> list[str]:
        return list(difflib.unified_diff(
            _text(self.before), _text(self.after), fromfile=f"live/{self.name}",
            tofile=f"proposed/{self.name}", lineterm="", n=context))

    def side_by_side(self) -> list[Row]:
        left, right = _text(self.before), _text(self.after)
        rows: list[Row] = []
        matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            for k in range(max(i2 - i1, j2 - j1)):
                li, rj = i1 + k, j1 + k
                rows.append(Row(tag, li + 1 if li < i2 else None, left[li] if li < i2 else "",
                                rj + 1 if rj < j2 else None, right[rj] if rj < j2 else ""))
        return rows

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "status": self.status, "before_origin": self.before_origin,
                "after_origin": self.after_origin, "diff": "\n".join(self.unified())}


def changes(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> list[FileChange]:
    """The files whose content in effect differs between two sets of folder files."""
    old, new = effective(before), effective(after)
    out = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a is not None and b is not None and a[0] == b[0]:
            continue
        status = "added" if a is None else "removed" if b is None else "changed"
        out.append(FileChange(name, status, a[0] if a else None, b[0] if b else None,
                              a[1] if a else None, b[1] if b else None))
    return out


def summary(found: list[FileChange]) -> dict[str, list[str]]:
    return {status: [c.name for c in found if c.status == status]
            for status in ("added", "removed", "changed")}
