"""Department mappings: the twelve files, coverage of the catalogue, validation on load."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ctown.catalogue.configfile import ConfigFileError
from ctown.catalogue.schemas import DEPARTMENTS
from ctown.catalogue.service import load_catalogue
from ctown.ingest.mapping import (
    DEFAULT_DIR,
    REGISTRY_FIELDS,
    dependency_order,
    load_mapping,
    load_mappings,
)


def _copy(tmp_path: Path, code: str, old: str, new: str) -> Path:
    text = (DEFAULT_DIR / f"{code}.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / f"{code}.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in line)


def test_twelve_departments_load() -> None:
    mappings = load_mappings()
    assert sorted(mappings) == sorted(DEPARTMENTS)
    assert {c for c, m in mappings.items() if m.creates_subjects} == {"psb", "samr"}
    assert mappings["psb"].identity.kind == "resident_id"
    assert mappings["samr"].identity.kind == "uscc"
    assert mappings["bank"].columns["存款余额（万元）"].unit_factor == 10000


def test_every_indicator_is_fed_by_a_department() -> None:
    fed: dict[str, set[str]] = {}
    for code, mapping in load_mappings().items():
        for ind in mapping.indicator_codes():
            fed.setdefault(ind, set()).add(code)
    catalogue = load_catalogue()
    assert set(catalogue.indicators) - set(fed) == set()
    for ind in catalogue.indicators.values():
        assert ind.source in fed[ind.code], f"{ind.code} not fed by its source {ind.source}"


def test_departments_speak_their_own_words() -> None:
    m = load_mappings()
    assert {"户号", "姓名", "公民身份号码", "与户主关系", "性别", "出生日期", "所属村代码",
            "联系电话"} <= set(m["psb"].columns)
    assert {"户主身份证号", "承包地面积（亩）", "生猪存栏（头）"} <= set(m["agri"].columns)
    assert {"统一社会信用代码", "主体名称", "主体类型"} <= set(m["samr"].columns)
    headers = [tuple(sorted(mp.columns)) for mp in m.values()]
    assert len(set(headers)) == len(headers)


def test_targets_and_codes_are_valid() -> None:
    catalogue = load_catalogue()
    for mapping in load_mappings().values():
        for col in mapping.columns.values():
            assert col.target in REGISTRY_FIELDS or col.target in catalogue.indicators
            if col.target in catalogue.indicators and catalogue.get(col.target).type == "code":
                assert set(col.codes.values()) <= set(catalogue.get(col.target).codes)
        assert mapping.identity.column in mapping.columns
        for key in mapping.record_key:
            assert key in mapping.file_columns()


def test_aliases_resolve_to_canonical_columns() -> None:
    psb = load_mappings()["psb"]
    assert psb.canonical(" 身份证号 ") == "公民身份号码"
    assert psb.canonical("姓\u3000名") == "姓名"


def test_dependency_order_puts_creators_first() -> None:
    order = dependency_order(["bank", "village", "tax", "samr", "psb", "court"])
    assert order[:2] == ["psb", "samr"]
    assert order.index("tax") > order.index("samr")
    assert dependency_order(["tax", "samr"]) == ["samr", "tax"]


def test_unknown_indicator_names_file_line_and_field(tmp_path: Path) -> None:
    path = _copy(tmp_path, "agri", "target: I0303", "target: I0399")
    with pytest.raises(ConfigFileError) as info:
        load_mapping(path)
    assert info.value.path == str(path)
    assert info.value.line == _line(path, "I0399")
    assert info.value.field == "columns.生猪存栏（头）.target"
    assert "I0399" in str(info.value)


def test_unknown_parser_is_refused(tmp_path: Path) -> None:
    path = _copy(tmp_path, "bank", "{target: I0502, parser: int}", "{target: I0502, parser: money}")
    with pytest.raises(ConfigFileError) as info:
        load_mapping(path)
    assert info.value.field == "columns.在贷笔数.parser"
    assert info.value.line == _line(path, "parser: money")


def test_parser_must_fit_the_indicator_type(tmp_path: Path) -> None:
    path = _copy(tmp_path, "bank", "{target: I0502, parser: int}", "{target: I0502, parser: bool}")
    with pytest.raises(ConfigFileError, match="I0502"):
        load_mapping(path)


def test_code_table_must_use_catalogue_codes(tmp_path: Path) -> None:
    path = _copy(tmp_path, "bank", '损失: "5"', '损失: "9"')
    with pytest.raises(ConfigFileError, match="9"):
        load_mapping(path)


def test_indicator_must_apply_to_the_subject_kind(tmp_path: Path) -> None:
    path = _copy(tmp_path, "agri", "target: I0303", "target: I0306")  # employees: entities only
    with pytest.raises(ConfigFileError, match="I0306"):
        load_mapping(path)


def test_references_to_missing_columns_are_refused(tmp_path: Path) -> None:
    path = _copy(tmp_path, "psb", "village: 所属村代码", "village: 村别")
    with pytest.raises(ConfigFileError) as info:
        load_mapping(path)
    assert info.value.field == "fallback.village"


def test_file_name_must_match_code_and_unknown_dependencies_fail(tmp_path: Path) -> None:
    path = _copy(tmp_path, "agri", "code: agri", "code: bank")
    with pytest.raises(ConfigFileError):
        load_mapping(path)
    folder = tmp_path / "deps"
    folder.mkdir()
    shutil.copy(DEFAULT_DIR / "agri.yaml", folder / "agri.yaml")
    with pytest.raises(ConfigFileError, match="psb"):
        load_mappings(folder)
