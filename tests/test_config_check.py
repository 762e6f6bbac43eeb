"""``ctown config check``: broken files of every kind, each problem one exact ``FILE:LINE: field:
message`` line, as many as can be found; unknown files; the version rule; checks across kinds.
No database: checking is for the county engineer's desk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from ctown import configdir
from ctown.config import cli

runner = CliRunner()
root = typer.Typer()
cli.register(root)
MISSING = "缺少必填字段 / required field missing"
UNKNOWN_FIELD = "未知字段（拼写错误？） / unknown field (a typo?)"
DECIMAL = "取值无效：Input should be a valid decimal / invalid value: Input should be a valid decimal"
INTEGER = ("取值无效：Input should be a valid integer, unable to parse string as an integer / "
           "invalid value: Input should be a valid integer, unable to parse string as an integer")
RAISE = ("版本 1 已用于不同的内容：修改后请提高版本号 / version 1 was used for another content: raise "
         "the version number after a change")


@pytest.fixture(autouse=True)
def _no_live_folder(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("CTOWN_CONFIG_DIR", raising=False)
    configdir.reset()
    yield
    configdir.reset()


def packaged(name: str) -> str:
    return configdir.defaults()[name].read_text(encoding="utf-8")


def bumped(name: str, old: str, new: str, version: int = 2) -> str:
    """A packaged file with one edit and its version raised (the edit is then allowed)."""
    text = packaged(name)
    assert old in text, old
    return text.replace("version: 1\n", f"version: {version}\n", 1).replace(old, new, 1)


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


def line(text: str, needle: str, nth: int = 1) -> int:
    hits = [i for i, t in enumerate(text.splitlines(), 1) if needle in t]
    return hits[nth - 1]


def check(folder: Path | None) -> tuple[int, list[str]]:
    result = runner.invoke(root, ["config", "check", *([str(folder)] if folder else [])])
    return result.exit_code, result.stdout.splitlines()


def test_the_packaged_defaults_are_valid() -> None:
    code, out = check(None)
    assert code == 0 and out[-1].startswith("✓"), out


def test_a_valid_folder_with_a_changed_and_a_new_product(tmp_path: Path) -> None:
    write(tmp_path, "products/rcb_credit.yaml",
          bumped("products/rcb_credit.yaml", 'base_rate_pct: "4.35"', 'base_rate_pct: "4.10"'))
    write(tmp_path, "products/town_credit.yaml",
          packaged("products/rcb_credit.yaml").replace("code: rcb_credit", "code: town_credit"))
    code, out = check(tmp_path)
    assert code == 0, out
    assert out == [f"✓ 配置有效 / configuration valid: 22 个内置文件 packaged files, 2 个来自 / "
                   f"from {tmp_path}"]


def test_broken_files_of_every_kind_each_problem_one_line(tmp_path: Path) -> None:
    d = str(tmp_path)
    # YAML syntax error (a department mapping).
    write(tmp_path, "departments/tax.yaml", "code: tax\ncolumns: [\n")
    # Wrong types, twice in one file: both are reported (a product).
    product = write(tmp_path, "products/rcb_credit.yaml", bumped(
        "products/rcb_credit.yaml", 'base_rate_pct: "4.35"', 'base_rate_pct: "lots"').replace(
        "age_min: 18", "age_min: eighteen"))
    # Unknown field (the grade table) and an incomplete grade table (another copy's problem).
    grades = write(tmp_path, "grades.yaml", bumped("grades.yaml", "model_weight: 0.5",
                                                   "model_weight: 0.5\ncolour: red"))
    # A missing field (a scorecard factor without `missing`) and an unknown indicator.
    entity = write(tmp_path, "scorecards/entity.yaml", bumped(
        "scorecards/entity.yaml", "        missing: 0\n        advice_zh: 按时报送经营收入",
        "        advice_zh: 按时报送经营收入"))
    farmer = write(tmp_path, "scorecards/farmer.yaml", bumped(
        "scorecards/farmer.yaml", "indicator: I0201", "indicator: I9999"))
    code, out = check(tmp_path)
    assert code == 1
    lots = 'base_rate_pct: "lots"'
    assert out == [
        f"{d}/departments/tax.yaml:3: -: YAML 语法错误：did not find expected node content / "
        "YAML syntax error: did not find expected node content",
        f"{d}/grades.yaml:{line(grades, 'colour')}: colour: {UNKNOWN_FIELD}",
        f"{d}/products/rcb_credit.yaml:{line(product, lots)}: base_rate_pct: "
        f"{DECIMAL}",
        f"{d}/products/rcb_credit.yaml:{line(product, 'age_min: eighteen')}: eligibility.age_min: "
        f"{INTEGER}",
        f"{d}/scorecards/entity.yaml:{line(entity, '- code: revenue')}: "
        f"parts.0.factors.0.missing: {MISSING}",
        f"{d}/scorecards/farmer.yaml:{line(farmer, 'I9999')}: parts.0.factors.2.indicator: "
        "指标 I9999 不在采集规范中 / Indicator I9999 is not in the catalogue",
    ]


def test_catalogue_duplicate_forbidden_and_unknown_category_all_reported(tmp_path: Path) -> None:
    d = str(tmp_path)
    text = bumped("catalogue.yaml", "name_zh: 婚姻状况", "name_zh: 宗教信仰状况")
    text = text.replace("  - code: I0102\n", "  - code: I0101\n", 1)
    write(tmp_path, "catalogue.yaml", text)
    code, out = check(tmp_path)
    assert code == 1
    assert out == [
        f"{d}/catalogue.yaml:{line(text, '- code: I0101', 2)}: indicators.1.code: 指标代码 I0101 "
        "重复 / " + _english("指标代码 {code} 重复", code="I0101"),
        f"{d}/catalogue.yaml:{line(text, '宗教信仰状况')}: indicators.1.name_zh: 指标 I0101 涉及法律"
        "禁止采集的信息“宗教”（《征信业管理条例》第十四条禁止采集宗教信仰、基因、指纹、血型、疾病和病史"
        "信息），不得列入目录 / " + _english_forbidden("I0101", "宗教"),
    ]


def _english(msgid: str, **params: str) -> str:
    from ctown.i18n import translate

    return translate(msgid, "en", **params)


def _english_forbidden(code: str, term: str) -> str:
    from ctown.catalogue.rules import forbidden_message

    return forbidden_message(code, term).render("en")


def test_a_grade_table_that_is_not_the_ten_grades(tmp_path: Path) -> None:
    text = write(tmp_path, "grades.yaml", bumped(
        "grades.yaml", "  - {grade: E2, min_score: 300, name_zh: 差二档, name_en: Poor (tier 2)}\n",
        ""))
    code, out = check(tmp_path)
    why = ("Value error, grades must be exactly A1, A2, B1, B2, C1, C2, D1, D2, E1, E2 in this "
           "order")
    assert (code, out) == (1, [f"{tmp_path}/grades.yaml:{line(text, 'grades:')}: grades: "
                               f"取值无效：{why} / invalid value: {why}"])


def test_mapping_problems_and_a_catalogue_taking_away_what_a_default_uses(tmp_path: Path
                                                                          ) -> None:
    d = str(tmp_path)
    tax = write(tmp_path, "departments/tax.yaml", bumped(
        "departments/tax.yaml", "{target: I0602, parser: decimal}",
        "{target: I0699, parser: decimal}").replace("depends_on: [samr]", "depends_on: [xyz]"))
    # A catalogue without I0201 (承包地面积): the packaged agri mapping and farmer card use it.
    catalogue = packaged("catalogue.yaml").replace("version: 1\n", "version: 5\n", 1)
    start = catalogue.index("  - code: I0201\n")
    end = catalogue.index("  - code:", start + 10)
    write(tmp_path, "catalogue.yaml", catalogue[:start] + catalogue[end:])
    code, out = check(tmp_path)
    agri = configdir.defaults()["departments/agri.yaml"]
    card = configdir.defaults()["scorecards/farmer.yaml"]
    agri_text, card_text = agri.read_text(encoding="utf-8"), card.read_text(encoding="utf-8")
    assert code == 1
    assert out == [
        f"{d}/departments/tax.yaml:{line(tax, 'depends_on')}: depends_on: 未知的部门代码 xyz / "
        + _english("未知的部门代码 {code}", code="xyz"),
        f"{d}/departments/tax.yaml:{line(tax, 'depends_on')}: depends_on: 依赖的部门 xyz 没有映射"
        "文件 / " + _english("依赖的部门 {code} 没有映射文件", code="xyz"),
        f"{d}/departments/tax.yaml:{line(tax, 'I0699')}: columns.已缴税额（元）.target: 列 已缴税额"
        "（元） 的目标 I0699 既不是目录 5 版中的指标，也不是登记字段 / " + _english(
            "列 {column} 的目标 {target} 既不是目录 {version} 版中的指标，也不是登记字段",
            column="已缴税额（元）", target="I0699", version="5"),
        f"{agri}:{line(agri_text, 'I0201')}: columns.承包地面积（亩）.target: 列 承包地面积（亩） "
        "的目标 I0201 既不是目录 5 版中的指标，也不是登记字段 / " + _english(
            "列 {column} 的目标 {target} 既不是目录 {version} 版中的指标，也不是登记字段",
            column="承包地面积（亩）", target="I0201", version="5"),
        f"{card}:{line(card_text, 'I0201')}: parts.0.factors.2.indicator: 指标 I0201 不在采集"
        "规范中 / Indicator I0201 is not in the catalogue",
    ]


def test_product_problems_across_files_and_unknown_files(tmp_path: Path) -> None:
    d = str(tmp_path)
    twin = write(tmp_path, "products/rcb_twin.yaml", packaged("products/rcb_credit.yaml"))
    young = write(tmp_path, "products/rcb_young.yaml", packaged(
        "products/rcb_credit.yaml").replace("code: rcb_credit", "code: rcb_young").replace(
        "age_max: 65", "age_max: 17").replace("regions: []", "regions: [3305x]"))
    write(tmp_path, "product/rcb_new.yaml", "code: x\n")     # a typo of the folder's name
    write(tmp_path, "catalog.yaml", "version: 1\n")           # a typo of the file's name
    write(tmp_path, "scorecards/household.yaml", packaged("scorecards/farmer.yaml"))
    write(tmp_path, ".editor-swap.yaml", "ignored: true\n")  # the folder's own hidden files
    code, out = check(tmp_path)
    layout = configdir.layout_hint()
    credit = configdir.defaults()["products/rcb_credit.yaml"]
    assert code == 1
    assert out == [
        f"{d}/catalog.yaml:1: -: 未知的配置文件 catalog.yaml（可用：{layout}） / unknown "
        f"configuration file catalog.yaml (the layout: {layout})",
        f"{d}/product/rcb_new.yaml:1: -: 未知的配置文件 product/rcb_new.yaml（可用：{layout}） / "
        f"unknown configuration file product/rcb_new.yaml (the layout: {layout})",
        f"{d}/products/rcb_twin.yaml:{line(twin, 'code:')}: code: 产品代码 rcb_credit 重复（已在 "
        f"rcb_credit.yaml 中） / product code rcb_credit is used twice (already in "
        f"rcb_credit.yaml)",
        f"{d}/products/rcb_twin.yaml:{line(twin, 'code:')}: code: 文件名 rcb_twin 与产品代码 "
        "rcb_credit 不一致 / file name rcb_twin does not match product code rcb_credit",
        f"{d}/products/rcb_young.yaml:{line(young, 'age_min')}: eligibility.age_min: 最低年龄 18 "
        "高于最高年龄 17 / minimum age 18 is above maximum age 17",
        f"{d}/products/rcb_young.yaml:{line(young, 'regions')}: eligibility.regions.0: 地区 3305x "
        "不是区划代码前缀（2 至 12 位数字） / region 3305x is not a division code prefix (2 to 12 "
        "digits)",
        f"{d}/scorecards/household.yaml:1: -: 未知的评分卡文件（应为 scorecards/collective.yaml, "
        "scorecards/entity.yaml, scorecards/farmer.yaml） / unknown scorecard file (expected "
        "scorecards/collective.yaml, scorecards/entity.yaml, scorecards/farmer.yaml)",
    ]
    assert credit.is_file()


def test_a_changed_file_under_an_unchanged_version_is_refused(tmp_path: Path) -> None:
    """Values keep the version they were computed under: one number, one content — for every
    kind that carries a version (catalogue, mapping, product, card, grade table)."""
    d = str(tmp_path)
    edits = {"catalogue.yaml": ("name_zh: 文化程度", "name_zh: 受教育程度"),
             "departments/psb.yaml": ("name_en:", "name_en: X #"),
             "products/rcb_credit.yaml": ('base_rate_pct: "4.35"', 'base_rate_pct: "4.30"'),
             "scorecards/collective.yaml": ("name_en:", "name_en: X #"),
             "grades.yaml": ("model_weight: 0.5", "model_weight: 0.4")}
    texts = {}
    for name, (old, new) in edits.items():
        assert old in packaged(name), name
        texts[name] = write(tmp_path, name, packaged(name).replace(old, new, 1))
    code, out = check(tmp_path)
    assert code == 1
    assert out == [f"{d}/{name}:{line(texts[name], 'version: 1')}: version: {RAISE}"
                   for name in sorted(edits)]
    # The same file with its version raised is fine; an unchanged copy of a default is too.
    for name, text in texts.items():
        write(tmp_path, name, text.replace("version: 1\n", "version: 2\n", 1))
    write(tmp_path, "products/rcb_insured.yaml", packaged("products/rcb_insured.yaml"))
    assert check(tmp_path)[0] == 0


def test_the_live_folder_is_checked_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    write(tmp_path, "grades.yaml", "version: [\n")
    monkeypatch.setenv("CTOWN_CONFIG_DIR", str(tmp_path))
    code, out = check(None)
    assert code == 1 and out == [
        f"{tmp_path}/grades.yaml:2: -: YAML 语法错误：did not find expected node content / "
        "YAML syntax error: did not find expected node content"]
    assert runner.invoke(root, ["config", "check", str(tmp_path / "nowhere")]).exit_code == 2
