"""Properties of the identifier parsers (#12 item 3): resident IDs (GB 11643-1999) and unified
social credit codes (GB 32100-2015) in ``ctown.registry.identifiers``.

Any input gives a value or an :class:`IdentifierError` with a message in both languages. The check
characters here are computed by this file's own implementations, written from the standards'
definitions (ISO 7064 MOD 11-2 computed recursively; GB 32100's weights as powers of 3), not by
the code under test: a valid identifier is accepted, and changing any one character refuses it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.fuzzing import bounded

from ctown.registry.identifiers import (
    IdentifierError,
    ResidentId,
    division_code_level,
    parse_resident_id,
    parse_uscc,
)

TODAY = dt.date(2026, 1, 1)
PROVINCES = ("11", "12", "13", "31", "33", "44", "50", "51", "65", "71", "81", "82", "83")
#: GB 32100-2015 table 1: the 31 characters of the code, valued 0-30 in this order.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
FULL_WIDTH = {ord(c): chr(ord(c) + 0xFEE0) for c in "0123456789X"}


def mod11_2(first17: str) -> str:
    """ISO 7064 MOD 11-2 by its recursive definition: p ← 2(p + digit) mod 11; the check
    character c makes the whole number ≡ 1 (mod 11), 10 written X."""
    p = 0
    for ch in first17:
        p = (p + int(ch)) * 2 % 11
    c = (1 - p) % 11
    return "X" if c == 10 else str(c)


def gb32100_check(first17: str) -> str:
    """GB 32100-2015 §4: C18 = 31 − (Σ Ci × Wi mod 31), Wi = 3^(i-1) mod 31; 31 is written 0."""
    total = sum(USCC_CHARS.index(ch) * pow(3, i, 31) for i, ch in enumerate(first17))
    return USCC_CHARS[(31 - total % 31) % 31]


def test_the_independent_check_characters_agree_with_published_examples() -> None:
    assert mod11_2("11010519491231002") == "X"  # GB 11643-1999 annex
    assert mod11_2("44052418800101001") == "4"
    assert gb32100_check("91350100M000100Y4") == "3"
    assert gb32100_check("91110000802100433") == "B"


@st.composite
def resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(PROVINCES)) + draw(st.text("0123456789", min_size=4,
                                                             max_size=4))
    birth = draw(st.dates(dt.date(1880, 1, 1), TODAY))
    first17 = f"{region}{birth:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + mod11_2(first17)


@st.composite
def credit_codes(draw: st.DrawFn) -> str:
    first17 = draw(st.text(USCC_CHARS, min_size=17, max_size=17))
    return first17 + gb32100_check(first17)


def refused(parse: Callable[[object], object], value: object) -> IdentifierError:
    """The refusal of ``value``, which says why in Chinese and in English."""
    with pytest.raises(IdentifierError) as caught:
        parse(value)
    both = caught.value.message.both()
    assert both["zh"] and both["en"] and both["zh"] != both["en"]
    return caught.value


def resident_id(value: object) -> ResidentId:
    return parse_resident_id(value, today=TODAY)


# -- any input: a value or a refusal ---------------------------------------------------------------

_ID_ALPHABET = st.sampled_from("0123456789Xx０１２３４５６７８９Ｘ -'.E+e٣१〇一年")
anything = st.one_of(st.text(), st.text(_ID_ALPHABET, max_size=22), st.integers(),
                     st.floats(), st.none())


@bounded(400)
@given(anything)
def test_any_input_is_an_id_or_a_refusal(value: object) -> None:
    try:
        parsed = parse_resident_id(value, today=TODAY)
    except IdentifierError as exc:
        assert exc.message.both()["en"]
        return
    assert isinstance(parsed, ResidentId)
    # what is accepted is stored and indexed: 18 ASCII characters, nothing else
    assert len(parsed.value) == 18 and parsed.value.isascii()
    assert parsed.value[:17].isdigit() and parsed.value[17] in "0123456789X"
    assert mod11_2(parsed.value[:17]) == parsed.value[17]


@bounded(400)
@given(st.one_of(st.text(), st.text(st.sampled_from(USCC_CHARS + "IOZSV iozsv-'"), max_size=20),
                 st.integers(), st.floats(), st.none()))
def test_any_input_is_a_credit_code_or_a_refusal(value: object) -> None:
    try:
        code = parse_uscc(value)
    except IdentifierError as exc:
        assert exc.message.both()["en"]
        return
    assert len(code) == 18 and all(c in USCC_CHARS for c in code)
    assert gb32100_check(code[:17]) == code[17]


@bounded(200)
@given(st.text())
def test_any_division_code_is_a_level_or_a_refusal(value: str) -> None:
    try:
        level = division_code_level(value)
    except IdentifierError:
        return
    assert level in ("county", "township", "village")
    assert len(value) == 12 and value.isascii() and value.isdigit()


# -- round trips -----------------------------------------------------------------------------------

@bounded(150)
@given(resident_ids())
def test_a_valid_id_is_accepted_in_every_spelling(value: str) -> None:
    assert parse_resident_id(value, today=TODAY).value == value
    assert parse_resident_id(value.lower(), today=TODAY).value == value
    assert parse_resident_id(value.translate(FULL_WIDTH), today=TODAY).value == value
    spaced = f" {value[:6]} {value[6:14]}-{value[14:]} "
    assert parse_resident_id(spaced, today=TODAY).value == value
    assert parse_resident_id("'" + value, today=TODAY).value == value  # Excel's text apostrophe
    parsed = parse_resident_id(value, today=TODAY)
    assert parsed.birth_date == dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    assert parsed.male == (int(value[16]) % 2 == 1)


@bounded(150)
@given(resident_ids(), st.integers(0, 17), st.sampled_from("0123456789X"))
def test_changing_one_character_of_an_id_refuses_it(value: str, at: int, new: str) -> None:
    assume(value[at] != new and (new != "X" or at == 17))
    changed = value[:at] + new + value[at + 1:]
    refused(resident_id, changed)


#: Decimal digits of other scripts (Arabic-Indic, Devanagari, Bengali, Thai, mathematical bold):
#: ``str.isdigit`` and ``\\d`` take them, ``int()`` reads them.
OTHER_ZEROS = (0x0660, 0x0966, 0x09E6, 0x0E50, 0x1D7CE, 0xFF10)


@bounded(150)
@given(resident_ids(), st.integers(0, 16), st.sampled_from(OTHER_ZEROS))
def test_a_digit_of_another_script_is_refused_or_read_as_its_ascii_digit(
        value: str, at: int, zero: int) -> None:
    changed = value[:at] + chr(zero + int(value[at])) + value[at + 1:]
    try:
        parsed = resident_id(changed)
    except IdentifierError:
        return
    assert parsed.value == value  # never stored with a digit a look-up by the ASCII ID misses


@bounded(200)
@given(st.dates(dt.date(1900, 1, 1), dt.date(1999, 12, 31)), st.integers(0, 999),
       st.sampled_from(PROVINCES))
def test_a_first_generation_id_is_upgraded(birth: dt.date, seq: int, province: str) -> None:
    old = f"{province}0521{birth:%y%m%d}{seq:03d}"
    first17 = f"{province}0521{birth:%Y%m%d}{seq:03d}"
    assert parse_resident_id(old, today=TODAY).value == first17 + mod11_2(first17)


@bounded(200)
@given(credit_codes())
def test_a_valid_credit_code_is_accepted(value: str) -> None:
    assert parse_uscc(value) == value
    assert parse_uscc(value.lower()) == value
    assert parse_uscc(" " + value.translate({ord(c): ord(c) + 0xFEE0 for c in USCC_CHARS})) == value


@bounded(200)
@given(credit_codes(), st.integers(0, 17), st.sampled_from(USCC_CHARS))
def test_changing_one_character_of_a_credit_code_refuses_it(value: str, at: int,
                                                             new: str) -> None:
    assume(value[at] != new)
    refused(parse_uscc, value[:at] + new + value[at + 1:])


# -- what Excel does to identifiers ----------------------------------------------------------------

@bounded(100)
@given(resident_ids())
def test_an_id_excel_turned_into_a_number_is_refused_with_the_reason(value: str) -> None:
    as_float = float(value[:17] + "0")
    for shown in (f"{as_float:.5E}", f"{as_float:.14E}".replace("E+", "e+"), f"{as_float:.1f}"):
        error = refused(resident_id, shown)
        assert "Excel" in error.message.both()["en"]
    # Excel keeps 15 significant digits: the ID ends in 000 and fails its check (a hint says why)
    truncated = value[:15] + "000"
    if mod11_2(truncated[:17]) != truncated[17]:
        assert "Excel" in refused(resident_id, truncated).message.both()["en"]
