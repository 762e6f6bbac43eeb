"""Synthetic county: deterministic, readable in every format, defects exactly as the manifest says."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from python_calamine import CalamineWorkbook
from typer.testing import CliRunner

from ctown.catalogue.service import load_catalogue
from ctown.ingest.mapping import load_mappings
from ctown.registry.identifiers import (
    IdentifierError,
    division_code_level,
    parse_resident_id,
    parse_uscc,
)
from ctown.synth.defects import ACCEPTED, DUPLICATE
from ctown.synth.generator import DEFAULT_SNAPSHOT, DEPARTMENTS, build_world, generate

HOUSEHOLDS = 300
SEED = 11
DATE_PATTERNS = {"iso": r"^\d{4}-\d{2}-\d{2}$", "ymd": r"^\d{8}$",
                 "slash": r"^\d{4}/\d{1,2}/\d{1,2}$", "zh": r"^\d{4}年\d{1,2}月\d{1,2}日$"}
ID_DEFECTS = ("bad_check_char", "excel_scientific", "excel_truncated")


@pytest.fixture(scope="module")
def county(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("county")
    # A higher defect rate than the default so every kind of defect shows up in 300 households.
    generate(HOUSEHOLDS, SEED, out, defect_rate=0.1)
    return out


@pytest.fixture(scope="module")
def manifest(county: Path) -> dict:
    return json.loads((county / "manifest.json").read_text(encoding="utf-8"))


def _cell(value: object) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    return str(value)


def read_rows(path: Path, fmt: str) -> tuple[list[str], list[dict[str, str | None]]]:
    if fmt == "xlsx":
        rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        header = [str(h) for h in rows[0]]
        return header, [dict(zip(header, map(_cell, r), strict=True)) for r in rows[1:]]
    if fmt == "json":
        records = json.loads(path.read_text(encoding="utf-8"))["records"]
        return list(records[0]), [{k: _cell(v) for k, v in r.items()} for r in records]
    raw = path.read_bytes()
    text = raw.decode("gb18030") if fmt == "csv-gb18030" else raw.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return list(reader.fieldnames or []), [{k: _cell(v) for k, v in r.items()} for r in reader]


_ROWS: dict[tuple[Path, str], list[dict[str, str | None]]] = {}


def dept_rows(county: Path, manifest: dict, code: str) -> list[dict[str, str | None]]:
    if (county, code) not in _ROWS:
        rows: list[dict[str, str | None]] = []
        for f in manifest["departments"][code]["files"]:
            rows += read_rows(county / f["path"], f["format"])[1]
        _ROWS[county, code] = rows
    return _ROWS[county, code]


def _tree_digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_same_seed_gives_byte_identical_files(county: Path, tmp_path: Path) -> None:
    generate(HOUSEHOLDS, SEED, tmp_path / "again", defect_rate=0.1)
    assert _tree_digest(county) == _tree_digest(tmp_path / "again")
    generate(HOUSEHOLDS, SEED + 1, tmp_path / "other", defect_rate=0.1)
    other = _tree_digest(tmp_path / "other")
    assert other["psb/psb_330521100_20260630.csv"] != _tree_digest(county)[
        "psb/psb_330521100_20260630.csv"]


def test_every_department_folder_and_the_hidden_truth(county: Path, manifest: dict) -> None:
    assert sorted(p.name for p in county.iterdir() if p.is_dir()) == sorted(
        [*DEPARTMENTS, "_hidden", "consents"])
    for code in DEPARTMENTS:
        assert list((county / code).iterdir()), code
        assert manifest["departments"][code]["files"]
    assert {p.name for p in (county / "_hidden").iterdir()} >= {"risk.csv", "outcomes.csv"}
    assert manifest["seed"] == SEED and manifest["snapshot"] == DEFAULT_SNAPSHOT.isoformat()
    assert manifest["sizes"]["households"] == HOUSEHOLDS


def test_signed_collection_consents_for_most_households(county: Path, manifest: dict) -> None:
    """~92 % of households sign the collection consent; every row names a household head."""
    _header, rows = read_rows(county / "consents" / "collection_consents.csv", "csv")
    assert manifest["consents"]["rows"] == len(rows)
    assert 0.85 * HOUSEHOLDS <= len(rows) <= 0.98 * HOUSEHOLDS
    heads = {r["公民身份号码"] for r in dept_rows(county, manifest, "psb")
             if r["与户主关系"] == "户主"}
    assert len({r["授权书编号"] for r in rows}) == len(rows)
    assert sum(r["户主身份证号"] in heads for r in rows) >= 0.9 * len(rows)
    for r in rows:
        parse_resident_id(r["户主身份证号"])
        assert r["签署日期"] < DEFAULT_SNAPSHOT.isoformat()


def test_regions_are_a_real_looking_hierarchy(county: Path) -> None:
    with (county / "regions.csv").open(encoding="utf-8") as fh:
        regions = list(csv.DictReader(fh))
    levels = Counter(r["level"] for r in regions)
    assert levels["county"] == 1 and levels["township"] == 1 and 8 <= levels["village"] <= 12
    for r in regions:
        assert division_code_level(r["code"]) == r["level"] and r["code"].startswith("330521")
        assert r["name"] and r["name_en"]
    codes = {r["code"] for r in regions}
    assert all(r["parent_code"] in codes for r in regions if r["level"] != "county")


def test_formats_are_really_what_they_claim(county: Path, manifest: dict) -> None:
    seen = set()
    for dept in manifest["departments"].values():
        for f in dept["files"]:
            path, fmt = county / f["path"], f["format"]
            seen.add(fmt)
            raw = path.read_bytes()
            if fmt == "csv-gb18030":
                with pytest.raises(UnicodeDecodeError):
                    raw.decode("utf-8")
                assert "\r\n" in raw.decode("gb18030")
            if fmt == "csv-utf8-bom":
                assert raw.startswith(b"\xef\xbb\xbf")
            _header, rows = read_rows(path, fmt)
            assert len(rows) == f["rows"], f["path"]
    assert seen == {"csv-gb18030", "csv-utf8-bom", "xlsx", "json"}


def test_every_mapping_column_is_in_every_file(county: Path, manifest: dict) -> None:
    mappings = load_mappings()
    for code, dept in manifest["departments"].items():
        for f in dept["files"]:
            header, _rows = read_rows(county / f["path"], f["format"])
            assert set(mappings[code].file_columns()) <= set(header), f["path"]


def _invalid_ids(rows: list[dict[str, str | None]], column: str, kind: str) -> tuple[int, int]:
    parse = parse_resident_id if kind == "resident_id" else parse_uscc
    invalid = missing = 0
    for row in rows:
        value = row[column]
        if value is None:
            missing += 1
            continue
        try:
            parse(value)
        except IdentifierError:
            invalid += 1
    return invalid, missing


@pytest.mark.parametrize("code", list(DEPARTMENTS))
def test_identifiers_are_valid_except_the_injected_defects(county: Path, manifest: dict,
                                                          code: str) -> None:
    mapping = load_mappings()[code]
    defects = manifest["departments"][code]["defects"]
    rows = dept_rows(county, manifest, code)
    invalid, missing = _invalid_ids(rows, mapping.identity.column, mapping.identity.kind)
    assert invalid == sum(defects.get(k, 0) for k in ID_DEFECTS)
    id_blanked = 0 if any(c.required and n != mapping.identity.column
                          for n, c in mapping.columns.items()) else defects["missing_required"]
    assert missing == defects.get("no_id_fallback", 0) + id_blanked
    fullwidth = sum(1 for r in rows if r[mapping.identity.column]
                    and re.search(r"[０-９]", r[mapping.identity.column] or ""))
    assert fullwidth == defects["fullwidth_digits"]
    old = sum(1 for r in rows if re.fullmatch(r"\d{15}", r[mapping.identity.column] or ""))
    assert old == defects.get("old_15_digit", 0)


@pytest.mark.parametrize("code", list(DEPARTMENTS))
def test_other_defect_counts_match_the_manifest(county: Path, manifest: dict, code: str) -> None:
    mapping = load_mappings()[code]
    dept = manifest["departments"][code]
    defects = dept["defects"]
    rows = dept_rows(county, manifest, code)
    assert len(rows) == dept["rows"] == dept["records"] + defects["duplicate"]
    as_tuples = Counter(tuple(r.values()) for r in rows)
    assert sum(n - 1 for n in as_tuples.values()) == defects["duplicate"]
    style = DEPARTMENTS[code][1]
    odd_dates = sum(1 for r in rows if not re.match(DATE_PATTERNS[style],
                                                    r[mapping.observed_on] or ""))
    assert odd_dates == defects["date_format"]
    if "unknown_code" in defects:
        assert sum(1 for r in rows for v in r.values() if v == "不详") == defects["unknown_code"]
    if "thousands_separator" in defects:
        assert sum(1 for r in rows for c, v in r.items()
                   if v and c in mapping.columns and re.match(r"^\d{1,3}(,\d{3})+(\.\d+)?$", v)
                   ) == defects["thousands_separator"]
    if "out_of_range" in defects:
        assert _out_of_range(rows, mapping) == defects["out_of_range"]
    expected = dept["expected"]
    assert sum(expected.values()) == dept["rows"]
    if mapping.creates_subjects:  # nothing to hold a bad row against: it is refused
        assert expected["held"] == 0 and expected["unresolved"] == 0
        assert expected["rejected"] == sum(v for k, v in defects.items()
                                           if k not in ACCEPTED + DUPLICATE)


def _out_of_range(rows: list[dict[str, str | None]], mapping) -> int:  # type: ignore[no-untyped-def]
    catalogue = load_catalogue()
    count = 0
    for row in rows:
        for name, col in mapping.columns.items():
            value = row.get(name)
            if col.parser not in ("int", "decimal") or value is None or "," in value:
                continue
            ind = catalogue.indicators.get(col.target)
            if ind and not (ind.min or 0) <= float(value) * col.unit_factor <= (ind.max or 1e18):
                count += 1
    return count


def test_default_rate_is_about_two_percent(tmp_path: Path) -> None:
    manifest = generate(120, 3, tmp_path, defect_rate=0.02)
    for dept in manifest["departments"].values():
        assert sum(dept["defects"].values()) == round(0.02 * dept["records"])


def test_entities_have_valid_codes_and_legal_representatives(county: Path,
                                                             manifest: dict) -> None:
    rows = dept_rows(county, manifest, "samr")
    assert abs(manifest["sizes"]["entities"] - HOUSEHOLDS / 40) <= 2
    types = {r["主体类型"] for r in rows}
    assert types <= {"家庭农场", "农民专业合作社", "有限责任公司", "不详"}
    for r in rows:
        if r["法定代表人证件号码"]:
            parse_resident_id(r["法定代表人证件号码"])


def test_households_are_plausible() -> None:
    world = build_world(2000, 5, DEFAULT_SNAPSHOT)
    people, hh = world.people, world.households
    assert 2.6 <= people.height / hh.height <= 4.0
    assert people["resident_id"].n_unique() == people.height
    assert (people.filter(people["relation"] == "户主").height == hh.height)
    def gbk_ok(name: str) -> bool:
        try:
            name.encode("gbk")
        except UnicodeEncodeError:
            return False
        return True

    # A few rare characters outside GBK (䶮, 㛃): the register must be read as GB18030.
    assert 0 < sum(not gbk_ok(n) for n in people["name"]) < people.height * 0.01
    for rid in people["resident_id"].sample(300, seed=1):
        assert parse_resident_id(rid).region == "330521"
    ages = people["age"].to_numpy()
    assert ages.min() >= 0 and ages.max() <= 100
    assert len(world.county.townships) == 1 and 8 <= len(world.county.villages) <= 12


def roc_auc_score(labels: np.ndarray, scores: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count half); sklearn would cost seconds of import here."""
    pos, neg = scores[labels.astype(bool)], scores[~labels.astype(bool)]
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def test_defaults_follow_the_hidden_risk_model() -> None:
    hh = build_world(6000, 9, DEFAULT_SNAPSHOT).households.filter("borrower")
    defaulted = hh["defaulted"].to_numpy()
    assert 0.02 < defaulted.mean() < 0.08
    assert roc_auc_score(defaulted, hh["pd"].to_numpy()) > 0.7
    # Observable behaviour carries the signal a rating model must find.
    assert roc_auc_score(defaulted, hh["past_overdue"].to_numpy()) > 0.55
    assert np.corrcoef(hh["past_overdue"].to_numpy(), hh["pd"].to_numpy())[0, 1] > 0.2


def test_hidden_files_match_the_feeds(county: Path, manifest: dict) -> None:
    with (county / "_hidden" / "risk.csv").open(encoding="utf-8") as fh:
        risk = list(csv.DictReader(fh))
    assert len(risk) == HOUSEHOLDS and all(0 < float(r["pd"]) < 1 for r in risk)
    with (county / "_hidden" / "outcomes.csv").open(encoding="utf-8") as fh:
        outcomes = list(csv.DictReader(fh))
    assert len(outcomes) == manifest["sizes"]["borrowers"]
    assert sum(int(o["defaulted"]) for o in outcomes) == manifest["sizes"][
        "defaults_after_snapshot"]
    bank_ids = {r["客户证件号码"] for r in dept_rows(county, manifest, "bank")}
    # Every borrower is in the bank feed, unless a defect spoiled the ID of its only row.
    missing = {o["resident_id"] for o in outcomes} - bank_ids
    assert len(missing) <= sum(manifest["departments"]["bank"]["defects"].values())


def test_cli_writes_a_county(tmp_path: Path) -> None:
    import typer

    from ctown.synth.cli import register

    root = typer.Typer()
    register(root)
    root.command("noop")(lambda: None)
    result = CliRunner().invoke(root, ["synth", "--households", "40", "--seed", "2", "--out",
                                       str(tmp_path / "c"), "--snapshot", "2025-12-31"])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["snapshot"] == "2025-12-31" and manifest["sizes"]["households"] == 40
    bad = CliRunner().invoke(root, ["synth", "--snapshot", "2025/12/31", "--out", str(tmp_path)])
    assert bad.exit_code != 0


def test_without_defects_every_cell_fits_its_mapping(tmp_path: Path) -> None:
    manifest = generate(150, 4, tmp_path, defect_rate=0.0)
    catalogue = load_catalogue()
    for code, mapping in load_mappings().items():
        assert sum(manifest["departments"][code]["defects"].values()) == 0
        for row in dept_rows(tmp_path, manifest, code):
            for name, col in mapping.columns.items():
                value = row[name]
                if value is None:
                    assert not col.required, (code, name)
                    continue
                if col.codes:
                    assert value in col.codes, (code, name, value)
                if col.parser == "resident_id":
                    parse_resident_id(value)
                elif col.parser == "uscc":
                    parse_uscc(value)
                elif col.parser == "division_code":
                    assert division_code_level(value) == "village"
                elif col.parser in ("int", "decimal") and col.target in catalogue.indicators:
                    ind = catalogue.get(col.target)
                    assert ind.min <= float(value) * col.unit_factor <= ind.max, (code, name)


def test_rows_about_refused_subjects_are_unresolved(county: Path, manifest: dict) -> None:
    psb = dept_rows(county, manifest, "psb")
    created = set()
    for row in psb:
        if row["户号"] is None or "不详" in row.values():
            continue  # refused for another reason: no person is created from this row
        try:
            created.add(parse_resident_id(row["公民身份号码"]).value)
        except (IdentifierError, TypeError):
            continue
    bank = dept_rows(county, manifest, "bank")
    orphans = 0
    for row in bank:
        try:
            rid = parse_resident_id(row["客户证件号码"]).value
        except (IdentifierError, TypeError):
            continue
        orphans += rid not in created
    # Orphans are the unresolved rows, plus duplicates or accepted-format defects of such rows.
    unresolved = manifest["departments"]["bank"]["expected"]["unresolved"]
    assert unresolved <= orphans <= unresolved + sum(manifest["departments"]["bank"][
        "defects"].values())
