"""Department mappings (部门数据映射): which column of a department's file feeds which indicator.

Each of the twelve departments has a YAML file in ``ingest/departments/<code>.yaml`` that names its
own columns (in its own words: 公民身份号码, 户主身份证号, 统一社会信用代码 …), the parser for each,
the unit factor to the catalogue's unit and the translation of its code values. No department has
code of its own: a new layout is a new version of its file. Files are validated on load; an error
names the file, the line and the field.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ctown.catalogue.configfile import ConfigFileError, line_of, read_yaml, validate
from ctown.catalogue.schemas import DEPARTMENTS, Catalogue
from ctown.catalogue.service import load_catalogue
from ctown.i18n import Message, _

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
    data, marks, _raw = read_yaml(path)
    mapping = validate(DepartmentMapping, data, path, marks)
    _check(mapping, path, marks, catalogue or load_catalogue())
    return mapping


def load_mappings(directory: Path | None = None) -> dict[str, DepartmentMapping]:
    """Every ``<code>.yaml`` in ``directory`` (default: the packaged twelve), keyed by code."""
    return dict(_load_dir(Path(directory or DEFAULT_DIR).resolve()))


@lru_cache(maxsize=4)
def _load_dir(directory: Path) -> tuple[tuple[str, DepartmentMapping], ...]:
    found = {}
    for path in sorted(directory.glob("*.yaml")):
        mapping = load_mapping(path)
        found[mapping.code] = mapping
    for mapping in found.values():
        for dep in mapping.depends_on:
            if dep not in found:
                raise ConfigFileError(directory / f"{mapping.code}.yaml", None, "depends_on",
                                      Message(_("依赖的部门 {code} 没有映射文件"), {"code": dep}))
    return tuple(found.items())


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


def _check(m: DepartmentMapping, path: Path, marks: dict[tuple[str, ...], int],
           catalogue: Catalogue) -> None:
    if m.code not in DEPARTMENTS:
        raise _fail(path, marks, ("code",), Message(_("未知的部门代码 {code}"), {"code": m.code}))
    if path.stem != m.code:
        raise _fail(path, marks, ("code",), Message(_("文件名 {stem} 与部门代码 {code} 不一致"),
                                                    {"stem": path.stem, "code": m.code}))
    for name, col in m.columns.items():
        _check_column(m, name, col, path, marks, catalogue)
    _check_references(m, path, marks)


def _check_column(m: DepartmentMapping, name: str, col: ColumnMap, path: Path,
                  marks: dict[tuple[str, ...], int], catalogue: Catalogue) -> None:
    loc = ("columns", name, "target")
    if col.target in REGISTRY_FIELDS:
        return
    if col.target not in catalogue.indicators:
        raise _fail(path, marks, loc, Message(_(
            "列 {column} 的目标 {target} 既不是目录 {version} 版中的指标，也不是登记字段"),
            {"column": name, "target": col.target, "version": catalogue.version}))
    ind = catalogue.indicators[col.target]
    if col.parser not in _PARSERS_FOR_TYPE[ind.type]:
        raise _fail(path, marks, ("columns", name, "parser"), Message(_(
            "列 {column} 的解析器 {parser} 不适用于 {type} 类型的指标 {target}"),
            {"column": name, "parser": col.parser, "type": ind.type, "target": ind.code}))
    if m.subject_kind not in ind.applies_to:
        raise _fail(path, marks, loc, Message(_(
            "指标 {target} 不适用于 {kind} 类主体（适用：{applies}）"),
            {"target": ind.code, "kind": m.subject_kind, "applies": ", ".join(ind.applies_to)}))
    unknown = sorted(set(col.codes.values()) - set(ind.codes)) if ind.type == "code" else []
    if unknown:
        raise _fail(path, marks, ("columns", name, "codes"), Message(_(
            "列 {column} 的代码对照表引用了指标 {target} 中没有的代码 {codes}"),
            {"column": name, "target": ind.code, "codes": ", ".join(unknown)}))


def _check_references(m: DepartmentMapping, path: Path, marks: dict[tuple[str, ...], int]) -> None:
    known = set(m.file_columns())
    refs: list[tuple[tuple[str, ...], str]] = [(("identity", "column"), m.identity.column)]
    if m.fallback:
        refs += [(("fallback", f), getattr(m.fallback, f))
                 for f in ("name", "birth_date", "village")]
    refs += [(("aliases", alias), target) for alias, target in m.aliases.items()]
    for loc, column in refs:
        if column not in known:
            raise _fail(path, marks, loc, Message(_("引用的列 {column} 不在本部门的列中"),
                                                  {"column": column}))
    if m.identity.column not in m.columns:
        raise _fail(path, marks, ("identity", "column"), Message(_(
            "标识列 {column} 必须在 columns 中定义解析器"), {"column": m.identity.column}))
    for dep in m.depends_on:
        if dep not in DEPARTMENTS:
            raise _fail(path, marks, ("depends_on",), Message(_("未知的部门代码 {code}"),
                                                              {"code": dep}))
