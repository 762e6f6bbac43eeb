"""Department mappings (部门数据映射): which column of a department's file feeds which indicator.

Each of the twelve departments has a YAML file in ``ingest/departments/<code>.yaml`` that names its
own columns (in its own words: 公民身份号码, 户主身份证号, 统一社会信用代码 …), the parser for each,
the unit factor to the catalogue's unit and the translation of its code values. No department has
code of its own: a new layout is a new version of its file. Files are validated on load; an error
names the file, the line and the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ctown import configdir
from ctown.catalogue.configfile import ConfigFileError, check_file, line_of
from ctown.catalogue.schemas import DEPARTMENTS, Catalogue
from ctown.catalogue.service import load_catalogue
from ctown.i18n import Message, _

#: The packaged mappings (a county's folder may replace or add some: :mod:`ctown.configdir`).
DEFAULT_DIR = Path(__file__).parent / "departments"
Parser = Literal["int", "decimal", "date", "bool", "code", "text", "resident_id", "uscc",
                 "division_code", "phone"]
IdentityKind = Literal["resident_id", "uscc", "division_code"]
SubjectKind = Literal["household", "person", "entity", "collective"]
Format = Literal["csv-gb18030", "csv-utf8-bom", "csv-utf8", "xlsx", "json"]
#: Targets that are fields of the registry rather than indicators of the catalogue.
REGISTRY_FIELDS: frozenset[str] = frozenset({
    "household_no", "name", "resident_id", "relation", "gender", "birth_date", "village_code",
    "phone", "credit_code", "entity_type", "legal_rep_id"})
#: Which parsers make sense for an indicator of each catalogue type.
_PARSERS_FOR_TYPE: dict[str, set[str]] = {
    "integer": {"int"}, "decimal": {"decimal", "int"}, "boolean": {"bool"}, "date": {"date"},
    "code": {"code"}, "text": {"text"}}
#: Departments that create subjects come first (psb: households and persons, samr: entities).
FIRST = ("psb", "samr")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ColumnMap(_Strict):
    target: str
    parser: Parser
    unit_factor: float = 1
    codes: dict[str, str] = Field(default_factory=dict)
    required: bool = False

    @field_validator("codes", mode="before")
    @classmethod
    def _text_keys(cls, value: object) -> object:
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value


class Identity(_Strict):
    column: str
    kind: IdentityKind


class Fallback(_Strict):
    name: str
    birth_date: str
    village: str


class DepartmentMapping(_Strict):
    code: str
    name_zh: str
    name_en: str
    version: int = Field(ge=1)
    subject_kind: SubjectKind
    creates_subjects: bool = False
    identity: Identity
    fallback: Fallback | None = None
    observed_on: str | None = None
    record_key: list[str] = Field(min_length=1)
    columns: dict[str, ColumnMap] = Field(min_length=1)
    aliases: dict[str, str] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    formats: list[Format] = Field(min_length=1)
    #: Columns a department's file carries that feed nothing (kept for the clerk's eyes only).
    extra_columns: list[str] = Field(default_factory=list)

    def file_columns(self) -> list[str]:
        """Every column the department's file carries, in file order (mapped ones first)."""
        dated = [self.observed_on] if self.observed_on else []
        names = [*self.columns, *dated, *self.record_key, *self.extra_columns]
        return list(dict.fromkeys(names))

    def indicator_codes(self) -> set[str]:
        return {c.target for c in self.columns.values() if c.target not in REGISTRY_FIELDS}

    def canonical(self, column: str) -> str:
        """The canonical name of a header as written in a file (aliases, stray spaces)."""
        name = column.strip().replace("\u3000", "").replace(" ", "")
        return self.aliases.get(name, name)


def load_mapping(path: Path, catalogue: Catalogue | None = None) -> DepartmentMapping:
    """One department's mapping file, validated against the catalogue."""
    mapping, problems = check_mapping(path, catalogue or load_catalogue())
    if mapping is None:
        raise problems[0]
    return mapping


def check_mapping(path: Path, catalogue: Catalogue | None
                  ) -> tuple[DepartmentMapping | None, list[ConfigFileError]]:
    """The mapping of a file, or None and every problem found (``ctown config check``); the
    targets are checked against ``catalogue`` unless it is None (a catalogue that failed)."""
    return check_file(path, DepartmentMapping,
                      lambda mapping, marks: mapping_problems(mapping, path, marks, catalogue))


def load_mappings(directory: Path | None = None) -> dict[str, DepartmentMapping]:
    """Every ``<code>.yaml`` of ``directory``, keyed by code; by default the mappings in effect
    (:mod:`ctown.configdir`: the packaged twelve, replaced or added to by the county's folder),
    cached by their files' stamps and the catalogue's (they are checked against it)."""
    if directory is not None:
        paths = tuple(sorted(Path(directory).resolve().glob("*.yaml")))
        return dict(_load_paths(configdir.stamp(paths), paths))
    paths = tuple(configdir.files("departments").values())
    return dict(_load_paths(configdir.stamp(paths) + configdir.key("catalogue"), paths))


@lru_cache(maxsize=4)
def _load_paths(_key: configdir.Stamp, paths: tuple[Path, ...]
                ) -> tuple[tuple[str, DepartmentMapping], ...]:
    found = {}
    where = {}
    for path in paths:
        mapping = load_mapping(path)
        found[mapping.code] = mapping
        where[mapping.code] = path
    problems = dependency_problems(found, where)
    if problems:
        raise problems[0]
    return tuple(found.items())


def dependency_problems(found: dict[str, DepartmentMapping], where: dict[str, Path]
                        ) -> list[ConfigFileError]:
    """A department depending on one that has no mapping file."""
    return [ConfigFileError(where[code], None, "depends_on",
                            Message(_("依赖的部门 {code} 没有映射文件"), {"code": dep}))
            for code, mapping in found.items() for dep in mapping.depends_on if dep not in found]


def dependency_order(codes: list[str] | tuple[str, ...] | set[str],
                     mappings: dict[str, DepartmentMapping] | None = None) -> list[str]:
    """``codes`` ordered so that each department follows those it depends on (psb, samr first)."""
    mappings = mappings if mappings is not None else load_mappings()
    wanted = sorted(set(codes), key=lambda c: (FIRST.index(c) if c in FIRST else len(FIRST), c))
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(code: str) -> None:
        if code in ordered:
            return
        if code in visiting:
            raise ValueError(f"department dependencies form a cycle at {code}")
        visiting.add(code)
        for dep in mappings[code].depends_on if code in mappings else ():
            if dep in wanted:
                visit(dep)
        visiting.discard(code)
        ordered.append(code)

    for code in wanted:
        visit(code)
    return ordered


def _fail(path: Path, marks: dict[tuple[str, ...], int], loc: tuple[str, ...],
          message: Message) -> ConfigFileError:
    return ConfigFileError(path, line_of(marks, loc), ".".join(loc), message)


def mapping_problems(m: DepartmentMapping, path: Path, marks: dict[tuple[str, ...], int],
                     catalogue: Catalogue | None) -> Iterator[ConfigFileError]:
    """Every problem of a valid-shaped mapping: its code and file name, each column's target
    against the catalogue (skipped when it is None), the columns it refers to."""
    if m.code not in DEPARTMENTS:
        yield _fail(path, marks, ("code",), Message(_("未知的部门代码 {code}"), {"code": m.code}))
    if path.stem != m.code:
        yield _fail(path, marks, ("code",), Message(_("文件名 {stem} 与部门代码 {code} 不一致"),
                                                    {"stem": path.stem, "code": m.code}))
    if catalogue is not None:
        for name, col in m.columns.items():
            yield from _check_column(m, name, col, path, marks, catalogue)
    yield from _check_references(m, path, marks)


def _check_column(m: DepartmentMapping, name: str, col: ColumnMap, path: Path,
                  marks: dict[tuple[str, ...], int], catalogue: Catalogue
                  ) -> Iterator[ConfigFileError]:
    loc = ("columns", name, "target")
    if col.target in REGISTRY_FIELDS:
        return
    if col.target not in catalogue.indicators:
        yield _fail(path, marks, loc, Message(_(
            "列 {column} 的目标 {target} 既不是目录 {version} 版中的指标，也不是登记字段"),
            {"column": name, "target": col.target, "version": catalogue.version}))
        return
    ind = catalogue.indicators[col.target]
    if col.parser not in _PARSERS_FOR_TYPE[ind.type]:
        yield _fail(path, marks, ("columns", name, "parser"), Message(_(
            "列 {column} 的解析器 {parser} 不适用于 {type} 类型的指标 {target}"),
            {"column": name, "parser": col.parser, "type": ind.type, "target": ind.code}))
    if m.subject_kind not in ind.applies_to:
        yield _fail(path, marks, loc, Message(_(
            "指标 {target} 不适用于 {kind} 类主体（适用：{applies}）"),
            {"target": ind.code, "kind": m.subject_kind, "applies": ", ".join(ind.applies_to)}))
    unknown = sorted(set(col.codes.values()) - set(ind.codes)) if ind.type == "code" else []
    if unknown:
        yield _fail(path, marks, ("columns", name, "codes"), Message(_(
            "列 {column} 的代码对照表引用了指标 {target} 中没有的代码 {codes}"),
            {"column": name, "target": ind.code, "codes": ", ".join(unknown)}))


def _check_references(m: DepartmentMapping, path: Path, marks: dict[tuple[str, ...], int]
                      ) -> Iterator[ConfigFileError]:
    known = set(m.file_columns())
    refs: list[tuple[tuple[str, ...], str]] = [(("identity", "column"), m.identity.column)]
    if m.fallback:
        refs += [(("fallback", f), getattr(m.fallback, f))
                 for f in ("name", "birth_date", "village")]
    refs += [(("aliases", alias), target) for alias, target in m.aliases.items()]
    for loc, column in refs:
        if column not in known:
            yield _fail(path, marks, loc, Message(_("引用的列 {column} 不在本部门的列中"),
                                                  {"column": column}))
    if m.identity.column not in m.columns:
        yield _fail(path, marks, ("identity", "column"), Message(_(
            "标识列 {column} 必须在 columns 中定义解析器"), {"column": m.identity.column}))
    for dep in m.depends_on:
        if dep not in DEPARTMENTS:
            yield _fail(path, marks, ("depends_on",), Message(_("未知的部门代码 {code}"),
                                                              {"code": dep}))
