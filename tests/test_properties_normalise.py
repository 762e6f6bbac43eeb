"""Properties of the column normalisers (#12 item 3), ``ctown.ingest.normalise``: numbers (with
thousands separators and full-width digits), dates (Chinese 年月日, ISO, slashes, compact, Excel
serial numbers), full-width text, yes/no, phones and identifiers (Excel-mangled ones included).

Any column of text gives a column of values and a ``bad`` mask of the same length: a value, or
"present but not readable" — never an exception. Values written in any of the accepted ways are
read back as the value they were written from (the expected values are the generated ones).
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import bounded
from tests.test_properties_identifiers import mod11_2, resident_ids

from ctown.ingest.normalise import (
    Parsed,
    clean_text,
    parse_bool,
    parse_date,
    parse_identifiers,
    parse_number,
    parse_phone,
)

#: Characters the normalisers look at, so generated text hits their paths and not only noise.
NUMBERISH = "0123456789０１２３４５６７８９,.，．+-eE 　年月日号/:T"
column = st.lists(st.one_of(st.none(), st.text(max_size=24), st.text(NUMBERISH, max_size=16)),
                  max_size=25)


def series(values: list[str | None]) -> pl.Series:
    return pl.Series("v", values, dtype=pl.String)


def full_width(text: str) -> str:
    """ASCII digits, letters and punctuation as their full-width forms (ＦＦ０１–ＦＦ５Ｅ)."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def well_formed(parsed: Parsed, values: list[str | None], dtype: pl.DataType) -> None:
    """Same length, the column's type, ``bad`` never null; nothing is both a value and bad; an
    absent input is neither; what is present in plain ASCII is a value or bad, never lost."""
    assert parsed.values.len() == len(values) and parsed.bad.len() == len(values)
    assert parsed.values.dtype == dtype and parsed.bad.dtype == pl.Boolean
    assert parsed.bad.null_count() == 0
    for raw, value, bad in zip(values, parsed.values.to_list(), parsed.bad.to_list(),
                               strict=True):
        assert not (bad and value is not None)
        if raw is None:
            assert value is None and not bad
        elif raw.isascii() and raw.strip():
            assert bad or value is not None, raw


huge = st.builds("{}e{}".format, st.integers(1, 9), st.integers(300, 400)) | st.text(
    "0123456789", min_size=300, max_size=400)


@bounded(80)
@given(st.lists(st.one_of(st.none(), st.text(max_size=24), st.text(NUMBERISH, max_size=16),
                          huge), max_size=25))
def test_any_text_is_a_finite_number_or_bad(values: list[str | None]) -> None:
    for integer in (False, True):
        parsed = parse_number(series(values), integer=integer)
        well_formed(parsed, values, pl.Float64())
        assert all(math.isfinite(v) for v in parsed.values.drop_nulls().to_list())
        if integer:
            assert all(v is None or float(v).is_integer() for v in parsed.values.to_list())


@bounded(150)
@given(column)
def test_any_text_is_a_date_or_bad(values: list[str | None]) -> None:
    parsed = parse_date(series(values))
    well_formed(parsed, values, pl.Date())
    for value in parsed.values.drop_nulls().to_list():
        assert dt.date(1880, 1, 1) <= value <= dt.date(2100, 12, 31)


@bounded(100)
@given(column)
def test_any_text_is_a_yes_no_a_phone_or_bad(values: list[str | None]) -> None:
    yes_no = parse_bool(series(values))
    well_formed(yes_no, values, pl.Float64())
    assert set(yes_no.values.drop_nulls().to_list()) <= {0.0, 1.0}
    phones = parse_phone(series(values))
    well_formed(phones, values, pl.String())
    assert all(p.isascii() and p.isdigit() for p in phones.values.drop_nulls().to_list())


@bounded(80)
@given(st.lists(st.one_of(st.none(), st.text(max_size=22), resident_ids(),
                          st.text("0123456789Xx０１２３４５６７８９ -'.E+", min_size=15,
                                  max_size=20)), max_size=20),
       st.sampled_from(["resident_id", "uscc"]))
def test_any_text_is_an_identifier_or_refused_with_a_reason(values: list[str | None],
                                                             kind: str) -> None:
    parsed = parse_identifiers(series(values), kind)
    assert parsed.values.len() == len(values) and parsed.bad.null_count() == 0
    for raw, value, bad in zip(values, parsed.values.to_list(), parsed.bad.to_list(),
                               strict=True):
        if value is not None:
            assert not bad and len(value) == 18 and value.isascii()
            if kind == "resident_id":
                assert mod11_2(value[:17]) == value[17]
        elif raw is not None and raw.strip():
            assert bad
            both = parsed.messages[series([raw]).str.strip_chars().item()].both()
            assert both["zh"] and both["en"]


# -- round trips -----------------------------------------------------------------------------------

@bounded(200)
@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=2,
                   allow_nan=False, allow_infinity=False),
       st.sampled_from(["plain", "grouped", "full", "spaced"]))
def test_a_number_reads_back_however_it_is_written(number: Decimal, style: str) -> None:
    plain = f"{number:f}"
    written = {"plain": plain, "grouped": f"{number:,f}", "full": full_width(plain),
               "spaced": f"\u3000 {plain} "}[style]
    parsed = parse_number(series([written]))
    assert parsed.values.to_list() == [float(plain)] and parsed.bad.to_list() == [False]
    whole = parse_number(series([written]), integer=True)
    assert whole.bad.to_list() == [number != number.to_integral_value()]


_EXCEL_EPOCH = dt.date(1899, 12, 30)
DATE_STYLES = ("{y}年{m}月{d}日", "{y} 年 {m} 月 {d} 号", "{y}/{m}/{d}", "{y}-{mm}-{dd}",
               "{y}.{m}.{d}", "{y}{mm}{dd}", "{y}-{mm}-{dd} 08:30:00", "{y}/{mm}/{dd}T23:59")


@bounded(200)
@given(st.dates(dt.date(1880, 1, 1), dt.date(2100, 12, 31)), st.sampled_from(DATE_STYLES),
       st.booleans())
def test_a_date_reads_back_however_it_is_written(day: dt.date, style: str, wide: bool) -> None:
    written = style.format(y=day.year, m=day.month, d=day.day, mm=f"{day.month:02d}",
                           dd=f"{day.day:02d}")
    parsed = parse_date(series([full_width(written) if wide else written]))
    assert parsed.values.to_list() == [day], written


@bounded(100)
@given(st.dates(dt.date(1900, 3, 1), dt.date(2100, 12, 31)))
def test_an_excel_serial_number_is_its_date(day: dt.date) -> None:
    serial = (day - _EXCEL_EPOCH).days  # counted independently: Excel's day 1 is 1900-01-01
    assert parse_date(series([str(serial), f"{serial}.75"])).values.to_list() == [day, day]


@bounded(100)
@given(st.dates(dt.date(1880, 1, 1), dt.date(2100, 12, 31)))
def test_a_month_alone_is_its_first_day(day: dt.date) -> None:
    values = parse_date(series([f"{day.year}年{day.month}月", f"{day.year}-{day.month}"])).values
    assert values.to_list() == [day.replace(day=1)] * 2


@bounded(100)
@given(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20))
def test_full_width_text_is_its_half_width_form(text: str) -> None:
    assert clean_text(series([full_width(text)])).to_list() == clean_text(series([text])).to_list()


@bounded(100)
@given(st.sampled_from(["是", "否", "Y", "n", "YES", "No", "True", "false", "1", "0", "有", "无",
                        "√", "×"]), st.booleans())
def test_yes_and_no_read_back(word: str, wide: bool) -> None:
    expected = 1.0 if word in ("是", "Y", "YES", "True", "1", "有", "√") else 0.0
    written = f" {full_width(word) if wide else word} "
    assert parse_bool(series([written])).values.to_list() == [expected]


@bounded(100)
@given(st.sampled_from("3456789"), st.text("0123456789", min_size=9, max_size=9),
       st.sampled_from(["{p}", "+86{p}", "86 {p}", "{a}-{b}-{c}", "({a}) {b} {c}"]), st.booleans())
def test_a_mobile_number_reads_back(second: str, rest: str, style: str, wide: bool) -> None:
    phone = "1" + second + rest
    written = style.format(p=phone, a=phone[:3], b=phone[3:7], c=phone[7:])
    assert parse_phone(series([full_width(written) if wide else written])).values.to_list() == [
        phone]


@bounded(100)
@given(resident_ids())
def test_an_id_excel_mangled_is_refused_as_such(value: str) -> None:
    mangled = f"{float(value[:17] + '0'):.5E}"  # 1.10105E+17, as Excel shows a long number
    parsed = parse_identifiers(series([mangled, value]), "resident_id")
    assert parsed.values.to_list() == [None, value] and parsed.bad.to_list() == [True, False]
    assert "Excel" in parsed.messages[mangled].both()["en"]
