"""Checking a whole configuration (配置校验): every file of every kind, merged over the defaults.

Each kind of :data:`ctown.configdir.KINDS` names its check here; a check gets the merged set
(:class:`View`) and returns every problem it finds, with the real validators of the kind (the
Pydantic models and the semantic checks the loaders run) and the checks across kinds: a
mapping's targets and a scorecard's indicators must be in the catalogue of the same set, a
product's grades in its grade table. The kinds are checked in the table's order, so the
catalogue and the grade table are known when the mappings, cards and products are checked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from ctown import configdir
from ctown.capabilities import load
from ctown.catalogue.configfile import ConfigFileError, line_of, read_yaml, validate_all
from ctown.catalogue.schemas import Catalogue
from ctown.catalogue.service import check_catalogue
from ctown.i18n import Message, _
from ctown.ingest.mapping import DepartmentMapping, mapping_problems
from ctown.lending.products import Product
from ctown.scoring.grades import GradeTable, check_grade_table
from ctown.scoring.rules import CARDS, RuleCard, card_problems

Marks = dict[tuple[str, ...], int]


@dataclass(frozen=True)
class Problem:
    """One problem, as ``ctown config check`` prints it: ``FILE:LINE: field: message``."""

    file: str
    line: int
    field: str
    message: Message

    def text(self, locale: str | None = None) -> str:
        words = self.message.render(locale) if locale else str(self.message)
        return f"{self.file}:{self.line}: {self.field}: {words}"


@dataclass
class View:
    """A merged set of files being checked (name in the layout → path) and what the kinds checked
    first found valid (the catalogue, the grade table), for the checks across kinds."""

    files: dict[str, Path]
    catalogue: Catalogue | None = None
    grades: GradeTable | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def of(self, kind: str) -> dict[str, Path]:
        k = configdir.BY_NAME[kind]
        return {n: p for n, p in self.files.items() if configdir.kind_of(n) is k}


Check = Callable[[View], list[ConfigFileError]]


def run(view: View) -> list[ConfigFileError]:
    """Every kind's check over the set, in the order of the kinds."""
    found: list[ConfigFileError] = []
    for kind in configdir.KINDS:
        check: Check = load(kind.check)
        found += check(view)
    return found


M = TypeVar("M", bound=BaseModel)


def _read(path: Path) -> tuple[Any, Marks] | ConfigFileError:
    try:
        data, marks, _raw = read_yaml(path)
    except ConfigFileError as exc:
        return exc
    return data, marks


def _validated(path: Path, model: type[M]) -> tuple[M, Marks] | list[ConfigFileError]:
    """A file read and validated with ``model``, or its problems (YAML or fields)."""
    read = _read(path)
    if isinstance(read, ConfigFileError):
        return [read]
    data, marks = read
    value, invalid = validate_all(model, data, path, marks)
    return invalid if value is None else (value, marks)


def _at(path: Path, marks: Marks, loc: tuple[str | int, ...], message: Message
        ) -> ConfigFileError:
    return ConfigFileError(path, line_of(marks, loc), ".".join(map(str, loc)), message)


# -- the kinds --------------------------------------------------------------------------------------
def catalogue(view: View) -> list[ConfigFileError]:
    path = next(iter(view.of("catalogue").values()))
    view.catalogue, problems = check_catalogue(path)
    return problems


def grades(view: View) -> list[ConfigFileError]:
    path = next(iter(view.of("grades").values()))
    view.grades, problems = check_grade_table(path)
    return problems


def departments(view: View) -> list[ConfigFileError]:
    problems: list[ConfigFileError] = []
    found: dict[str, tuple[DepartmentMapping, Path, Marks]] = {}
    for path in view.of("departments").values():
        done = _validated(path, DepartmentMapping)
        if isinstance(done, list):
            problems += done
            continue
        mapping, marks = done
        problems += mapping_problems(mapping, path, marks, view.catalogue)
        found[mapping.code] = (mapping, path, marks)
    for mapping, path, marks in found.values():
        problems += [_at(path, marks, ("depends_on",), Message(
            _("依赖的部门 {code} 没有映射文件"), {"code": dep}))
            for dep in mapping.depends_on if dep not in found]
    return problems


def scorecards(view: View) -> list[ConfigFileError]:
    problems: list[ConfigFileError] = []
    kinds = {f"scorecards/{name}.yaml": kind for kind, name in CARDS.items()}
    for name, path in view.of("scorecards").items():
        read = _read(path)
        if isinstance(read, ConfigFileError):
            problems.append(read)
            continue
        data, marks = read
        if name not in kinds:
            problems.append(ConfigFileError(path, 1, "-", Message(_(
                "未知的评分卡文件（应为 {names}）"), {"names": ", ".join(sorted(kinds))})))
            continue
        card, invalid = validate_all(RuleCard, data, path, marks)
        if card is None:
            problems += invalid
            continue
        if card.kind != kinds[name]:
            problems.append(_at(path, marks, ("kind",), Message(_(
                "评分卡 {name} 应为 {kind} 类主体"), {"name": name, "kind": kinds[name]})))
        problems += card_problems(card, path, marks, view.catalogue)
    return problems


_REGION = re.compile(r"^\d{2,12}$")


def products(view: View) -> list[ConfigFileError]:
    problems: list[ConfigFileError] = []
    codes: dict[str, Path] = {}
    for path in view.of("products").values():
        done = _validated(path, Product)
        if isinstance(done, list):
            problems += done
            continue
        product, marks = done
        problems += _product_problems(product, path, marks, codes, view.grades)
        codes.setdefault(product.code, path)
    return problems


def _product_problems(p: Product, path: Path, marks: Marks, codes: Mapping[str, Path],
                      table: GradeTable | None) -> Iterable[ConfigFileError]:
    if p.code in codes:
        yield _at(path, marks, ("code",), Message(_("产品代码 {code} 重复（已在 {other} 中）"),
                                                  {"code": p.code, "other": codes[p.code].name}))
    if path.stem != p.code:
        yield _at(path, marks, ("code",), Message(_("文件名 {stem} 与产品代码 {code} 不一致"),
                                                  {"stem": path.stem, "code": p.code}))
    rules = p.eligibility
    if rules.age_min > rules.age_max:
        yield _at(path, marks, ("eligibility", "age_min"), Message(_(
            "最低年龄 {low} 高于最高年龄 {high}"), {"low": rules.age_min, "high": rules.age_max}))
    for i, prefix in enumerate(rules.regions):
        if not _REGION.match(prefix):
            yield _at(path, marks, ("eligibility", "regions", i), Message(_(
                "地区 {region} 不是区划代码前缀（2 至 12 位数字）"), {"region": prefix}))
    known = {b.grade for b in table.grades} if table else None
    for grade in p.grades:
        if known is not None and grade not in known:
            yield _at(path, marks, ("grades", grade), Message(_(
                "等级 {grade} 不在等级表中"), {"grade": grade}))


# -- a folder ---------------------------------------------------------------------------------------
def unknown_files(overrides: Mapping[str, Path]) -> list[ConfigFileError]:
    """A file of the folder that is no kind's (a typo in a name must not be ignored silently)."""
    return [ConfigFileError(path, 1, "-", Message(_(
        "未知的配置文件 {name}（可用：{layout}）"), {"name": name, "layout": configdir.layout_hint()}))
        for name, path in overrides.items() if configdir.kind_of(name) is None]


def version_problems(overrides: Mapping[str, Path], earlier: Mapping[str, Iterable[bytes]]
                     ) -> list[ConfigFileError]:
    """A file whose ``version`` was used before with another content: values keep the version
    they were computed under, so a number must always mean one content."""
    problems: list[ConfigFileError] = []
    for name, path in overrides.items():
        if configdir.kind_of(name) is None:
            continue
        read = _read(path)
        if isinstance(read, ConfigFileError):
            continue  # reported by the kind's check
        data, marks = read
        number = _version_of(data)
        raw = path.read_bytes()
        if number is None:
            continue
        clash = any(_version_of_bytes(old) == number and old != raw
                    for old in earlier.get(name, ()))
        if clash:
            problems.append(_at(path, marks, ("version",), Message(_(
                "版本 {version} 已用于不同的内容：修改后请提高版本号"), {"version": number})))
    return problems


def _version_of(data: Any) -> int | None:
    value = data.get("version") if isinstance(data, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _version_of_bytes(raw: bytes) -> int | None:
    try:
        return _version_of(yaml.safe_load(raw.decode("utf-8-sig")))
    except (UnicodeDecodeError, yaml.YAMLError):
        return None


@dataclass
class Outcome:
    """What checking a folder found: the problems (sorted) and the merged set's catalogue."""

    problems: list[Problem]
    view: View


def check_folder(folder: Path | None, shown: str | None,
                 earlier: Mapping[str, Iterable[bytes]]) -> Outcome:
    """Check ``folder`` merged over the packaged files (None: the packaged files alone).

    A problem names a file of the folder as ``shown/name`` (``shown`` None: ``name``), a packaged
    file by its path; ``earlier`` holds the contents each name had before (packaged, live,
    recorded versions) for :func:`version_problems`."""
    overrides = configdir.folder_files(folder) if folder is not None else {}
    view = View(configdir.merged(overrides))
    errors = unknown_files(overrides) + run(view) + version_problems(overrides, earlier)
    names = {str(path): (f"{shown}/{name}" if shown else name)
             for name, path in overrides.items()}
    unique: dict[str, Problem] = {}
    for e in errors:
        problem = Problem(names.get(e.path, e.path), e.line or 1, e.field, e.message)
        unique.setdefault(problem.text(), problem)
    # The county's own files first, then the packaged ones they break (not by where the
    # package happens to be installed).
    own = set(names.values())
    return Outcome(sorted(unique.values(), key=lambda p: (p.file not in own, p.file, p.line,
                                                          p.field)), view)
