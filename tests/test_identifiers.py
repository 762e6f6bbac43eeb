"""Resident IDs (GB 11643-1999) and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctown.registry.identifiers import (
    USCC_CHARSET,
    IdentifierError,
    division_code_level,
    parse_resident_id,
    parse_uscc,
    resident_id_check_char,
    uscc_check_char,
)

# Published examples: the GB 11643-1999 annex example and well-known enterprise codes.
PUBLISHED_IDS = ["11010519491231002X", "440524188001010014"]
PUBLISHED_USCC = ["91350100M000100Y43", "91110000802100433B", "914403001922038216"]


@pytest.mark.parametrize("value", PUBLISHED_IDS)
def test_published_resident_ids_pass(value: str) -> None:
    assert parse_resident_id(value).value == value


@pytest.mark.parametrize("value", PUBLISHED_USCC)
def test_published_credit_codes_pass(value: str) -> None:
    assert parse_uscc(value) == value


def test_normalisation_full_width_lowercase_and_spaces() -> None:
    assert parse_resident_id("１１０１０５ １９４９１２３１００２ｘ").value == "11010519491231002X"
    assert parse_resident_id(" 110105-19491231-002x ").value == "11010519491231002X"


def test_fifteen_digit_id_is_upgraded() -> None:
    rid = parse_resident_id("110105491231002")
    assert rid.value == "11010519491231002X"
    assert rid.birth_date == dt.date(1949, 12, 31)


def test_excel_scientific_notation_is_refused_with_a_reason() -> None:
    with pytest.raises(IdentifierError) as exc:
        parse_resident_id("1.10105E+17")
    both = exc.value.message.both()
    assert "Excel" in both["zh"] and "科学计数法" in both["zh"]
    assert "scientific notation" in both["en"]


def test_excel_truncated_id_gets_a_hint() -> None:
    with pytest.raises(IdentifierError) as exc:
        parse_resident_id("110105194912310000")
    assert "15" in exc.value.message.both()["en"]


def test_wrong_check_character_says_which() -> None:
    with pytest.raises(IdentifierError) as exc:
        parse_resident_id("110105194912310021")
    msg = exc.value.message.both()
    assert "X" in msg["zh"] and "check character" in msg["en"]


def test_impossible_birth_date() -> None:
    first17 = "11010519490230002"
    with pytest.raises(IdentifierError, match="出生日期"):
        parse_resident_id(first17 + resident_id_check_char(first17))


def test_retired_county_code_is_still_valid() -> None:
    # 330521 is a county code that has since been merged; old IDs stay valid.
    first17 = "33052119700101123"
    assert parse_resident_id(first17 + resident_id_check_char(first17))


def test_uscc_forbidden_letters() -> None:
    with pytest.raises(IdentifierError) as exc:
        parse_uscc("91350100M000100I43")
    assert "I" in exc.value.message.both()["zh"]


def test_division_levels() -> None:
    assert division_code_level("330521000000") == "county"
    assert division_code_level("330521100000") == "township"
    assert division_code_level("330521100201") == "village"


_digits = st.text("0123456789", min_size=1, max_size=1)
birth_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2020, 12, 31))


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(["110105", "330521", "440524", "510104", "650102"]))
    birth = draw(birth_dates).strftime("%Y%m%d")
    seq = draw(st.integers(0, 999))
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + resident_id_check_char(first17)


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    body = draw(st.text(USCC_CHARSET, min_size=17, max_size=17))
    return body + uscc_check_char(body)


@given(resident_ids())
def test_generated_ids_pass(value: str) -> None:
    assert parse_resident_id(value).value == value


@given(resident_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_every_single_character_change_of_an_id_fails(value: str, pos: int, char: str) -> None:
    if value[pos] == char:
        return
    changed = value[:pos] + char + value[pos + 1:]
    with pytest.raises(IdentifierError):
        parse_resident_id(changed)


@given(credit_codes())
def test_generated_credit_codes_pass(value: str) -> None:
    assert parse_uscc(value) == value


@given(credit_codes(), st.integers(0, 17), st.sampled_from(USCC_CHARSET + "IOZSV"))
def test_every_single_character_change_of_a_credit_code_fails(value: str, pos: int, char: str
                                                             ) -> None:
    if value[pos] == char:
        return
    with pytest.raises(IdentifierError):
        parse_uscc(value[:pos] + char + value[pos + 1:])
