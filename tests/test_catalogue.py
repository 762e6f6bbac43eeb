"""Indicator catalogue: the shipped file, validation with file/line/field, the law, versions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from ctown.catalogue.configfile import ConfigFileError
from ctown.catalogue.models import CatalogueVersion
from ctown.catalogue.service import (
    DEFAULT_PATH,
    CatalogueVersionConflict,
    load_catalogue,
    parse_catalogue,
    register_version,
)
from ctown.errors import Conflict

# The tax credit grade (纳税信用等级) is published by the tax bureau, so it needs no consent.
CONSENT_WORDS = ("收入", "存款", "宅基地", "房屋", "不动产", "农机具原值", "纳税额", "欠税", "保险",
                 "营业收入")


def _edited(tmp_path: Path, old: str, new: str, count: int = 1) -> Path:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "catalogue.yaml"
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if needle in line)


def test_shipped_catalogue_has_12_categories_and_56_indicators() -> None:
    cat = load_catalogue()
    assert len(cat.categories) == 12
    assert len(cat.indicators) == 56
    assert {c.name_zh for c in cat.categories} >= {"基本信息", "收入", "贷款与还款", "荣誉表彰"}
    assert all(cat.in_category(c.code) for c in cat.categories)
    assert cat.get("I0501").unit == "元"
    assert {i.code for i in cat.for_kind("entity")} >= {"I0306", "I0405", "I0601"}
    assert len(cat.sha256) == 64
    with pytest.raises(KeyError):
        cat.get("I9999")


def test_every_indicator_has_every_field_of_the_contract() -> None:
    for ind in load_catalogue().indicators.values():
        assert re.fullmatch(r"I\d{4}", ind.code) and ind.code[1:3] == ind.category[1:]
        assert ind.name_zh and ind.name_en and ind.source and ind.applies_to
        if ind.type == "code":
            assert ind.codes and all(lbl.zh and lbl.en for lbl in ind.codes.values())
        if ind.type in ("integer", "decimal"):
            assert ind.unit and ind.min is not None and ind.max is not None


def test_consent_marks_income_deposits_property_tax_insurance() -> None:
    for ind in load_catalogue().indicators.values():
        touches = any(w in ind.name_zh for w in CONSENT_WORDS) or ind.category == "C04"
        assert ind.consent_required == touches, ind.code


def test_error_names_file_line_and_field(tmp_path: Path) -> None:
    path = _edited(tmp_path, "    unit: 亩\n    min: 0\n    max: 5000", "    unit: 亩\n    min: 0\n"
                   "    max: 5000\n    colour: green")
    with pytest.raises(ConfigFileError) as info:
        parse_catalogue(path)
    err = info.value
    assert err.path == str(path)
    assert err.line == _line_of(path, "colour: green")
    assert err.field == "indicators.5.colour"
    assert f"{path}:{err.line}" in str(err)


def test_wrong_type_value_points_at_its_line(tmp_path: Path) -> None:
    path = _edited(tmp_path, "    sensitivity: core\n", "    sensitivity: secret\n")
    with pytest.raises(ConfigFileError) as info:
        parse_catalogue(path)
    assert info.value.line == _line_of(path, "sensitivity: secret")
    assert info.value.field.endswith(".sensitivity")


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    path = _edited(tmp_path, "  - code: I0102\n", "  - code: [I0102\n")
    with pytest.raises(ConfigFileError) as info:
        parse_catalogue(path)
    assert info.value.line is not None


@pytest.mark.parametrize(("name_zh", "name_en"), [
    ("宗教信仰", "Religion"), ("血型", "Blood type"), ("既往病史", "Past conditions"),
    ("生物特征", "Fingerprints"), ("遗传信息", "Genes"), ("健康状况", "Illness")])
def test_forbidden_information_is_refused(tmp_path: Path, name_zh: str, name_en: str) -> None:
    path = _edited(tmp_path, "    name_zh: 婚姻状况\n    name_en: Marital status",
                   f"    name_zh: {name_zh}\n    name_en: {name_en}")
    with pytest.raises(ConfigFileError) as info:
        parse_catalogue(path)
    assert "第十四条" in info.value.message.render("zh_Hans")
    assert "I0102" in str(info.value)


def test_statutory_list_applies_even_when_removed_from_the_file(tmp_path: Path) -> None:
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    text = re.sub(r"^forbidden: .*$", "forbidden: []", text, flags=re.M)
    text = text.replace("name_zh: 婚姻状况", "name_zh: 血型")
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError):
        parse_catalogue(path)


def test_ordinary_words_are_not_mistaken_for_forbidden_ones(tmp_path: Path) -> None:
    # "general" contains "gene", 医疗保险 is insurance, not medical history.
    path = _edited(tmp_path, "name_en: Marital status", "name_en: General marital status")
    assert parse_catalogue(path).get("I0102").name_en == "General marital status"
    assert load_catalogue().get("I0902").name_zh == "基本医疗保险参保"


def test_duplicate_code_and_unknown_category_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigFileError, match="I0101"):
        parse_catalogue(_edited(tmp_path, "  - code: I0102", "  - code: I0101"))
    with pytest.raises(ConfigFileError, match="category"):
        parse_catalogue(_edited(tmp_path, "    category: C12\n", "    category: C13\n"))


def test_register_version_binds_a_number_to_its_content(session: sa.orm.Session,
                                                        tmp_path: Path) -> None:
    cat = load_catalogue()
    assert register_version(session, cat) == cat.version
    assert register_version(session, cat) == cat.version  # idempotent
    assert session.scalar(sa.select(sa.func.count()).select_from(CatalogueVersion)) == 1
    changed = parse_catalogue(_edited(tmp_path, "name_en: Pigs on hand", "name_en: Pigs in stock"))
    with pytest.raises(CatalogueVersionConflict) as info:
        register_version(session, changed)
    assert isinstance(info.value, Conflict)
    bumped = parse_catalogue(_edited(tmp_path, f"version: {cat.version}\n",
                                     f"version: {cat.version + 1}\n"))
    assert register_version(session, bumped) == cat.version + 1
    rows = session.execute(sa.select(CatalogueVersion.version, CatalogueVersion.sha256)
                           .order_by(CatalogueVersion.version)).all()
    assert [r.version for r in rows] == [cat.version, cat.version + 1]
    assert rows[0].sha256 == cat.sha256 != rows[1].sha256


def _cli(*args: str) -> tuple[int, str]:
    import typer

    from ctown.catalogue.cli import register

    root = typer.Typer()
    register(root)
    root.command("noop")(lambda: None)
    result = CliRunner().invoke(root, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_cli_lists_and_checks() -> None:
    code, out = _cli("indicators", "--json", "--category", "C05")
    assert code == 0
    data = json.loads(out)
    assert [i["code"] for i in data["indicators"]] == [f"I050{n}" for n in range(1, 8)]
    code, out = _cli("indicators")
    assert code == 0 and "I1203" in out and "贷款余额" in out
    code, out = _cli("indicators", "check", str(DEFAULT_PATH))
    assert code == 0 and "56" in out


def test_cli_check_reports_the_line(tmp_path: Path) -> None:
    path = _edited(tmp_path, "    type: integer\n", "    type: number\n")
    code, out = _cli("indicators", "check", str(path))
    assert code == 1
    assert f":{_line_of(path, 'type: number')}:" in out.replace("\n", "")


def test_cli_check_refuses_changed_content_under_the_same_number(tmp_path: Path) -> None:
    code, out = _cli("indicators", "check", str(_edited(tmp_path, "name_en: Pigs on hand",
                                                         "name_en: Pigs")))
    assert code == 1 and "version" in out


def test_catalogue_page_lists_every_indicator(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.factories import build_county
    from tests.webutil import login, make_app_client

    from ctown.crypto import FieldCipher
    from ctown.db import make_engine, session_factory

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=2,
                     passwords=True)
        register_version(session, load_catalogue())
    engine.dispose()
    with make_app_client(url, tmp_path) as client:
        assert client.get("/catalogue", headers={"accept": "text/html"}).status_code == 303
        login(client, "farmer", "pw-farmer-123")
        page = client.get("/catalogue")
        assert page.status_code == 200
        html = page.text
        cat = load_catalogue()
        assert all(code in html for code in cat.indicators)
        assert "荣誉表彰" in html and "第十四条" in html and cat.sha256 in html
        assert html.count("✓ <span") == sum(i.consent_required for i in cat.indicators.values())
        english = client.get("/catalogue?lang=en").text
        assert "Loans and repayment" in english and "Outstanding loans" in english
