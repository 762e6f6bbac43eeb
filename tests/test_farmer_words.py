"""Plain words for the farmer (ctown.farmer.words): yuan with 万 where natural, Beijing time —
against hand-written expected values, and Hypothesis for what must hold for every amount."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ctown.farmer.words import beijing, day, rate, yuan


@pytest.mark.parametrize(("amount", "zh", "en"), [
    (Decimal("35000"), "3.5万元", "35,000 yuan"),
    (Decimal("800"), "800元", "800 yuan"),
    (Decimal("150000.00"), "15万元", "150,000 yuan"),
    (Decimal("12500"), "1.25万元", "12,500 yuan"),
    (Decimal("12345"), "12345元", "12,345 yuan"),
    (Decimal("1234.56"), "1234.56元", "1,234.56 yuan"),
    (Decimal("10000"), "1万元", "10,000 yuan"),
    (Decimal("9999"), "9999元", "9,999 yuan"),
    (Decimal("0"), "0元", "0 yuan"),
    (Decimal("0.5"), "0.5元", "0.50 yuan"),
    (Decimal("250000000"), "2.5亿元", "250,000,000 yuan"),
    (Decimal("-3000"), "-3000元", "-3,000 yuan"),
    (Decimal("-20000"), "-2万元", "-20,000 yuan"),
    (500000, "50万元", "500,000 yuan"),
])
def test_yuan(amount: Decimal, zh: str, en: str) -> None:
    assert yuan(amount) == zh
    assert yuan(amount, "zh_Hans") == zh
    assert yuan(amount, "en") == en


@given(st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False))
def test_yuan_reads_back_to_the_amount(amount: Decimal) -> None:
    """Whatever the unit chosen, the words name exactly the amount (to the fen)."""
    text = yuan(amount)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(亿|万)?元", text)
    assert m is not None, text
    scale = {"亿": Decimal(10**8), "万": Decimal(10**4), None: Decimal(1)}[m[2]]
    assert Decimal(m[1]) * scale == amount
    if m[2] is None:  # 万 left out only below 1万, or where it would need more than 2 decimals
        assert amount < 10_000 or amount % 100 != 0


@given(st.integers(min_value=1, max_value=99_999).map(lambda n: Decimal(n) * 100))
def test_whole_hundreds_above_a_wan_use_wan(amount: Decimal) -> None:
    if amount >= 10_000:
        assert "万" in yuan(amount) or "亿" in yuan(amount)


def test_beijing_time() -> None:
    at = dt.datetime(2026, 12, 3, 17, 30, tzinfo=dt.UTC)
    assert beijing(at) == "2026年12月4日 01:30"
    assert beijing(at, "en") == "2026-12-04 01:30"
    assert beijing(at.replace(tzinfo=None)) == "2026年12月4日 01:30"  # stored naive = UTC
    shanghai = dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert beijing(shanghai) == "2026年1月5日 08:00"


def test_day_and_rate() -> None:
    assert day(dt.date(2027, 3, 1)) == "2027年3月1日"
    assert day(dt.date(2027, 3, 1), "en") == "2027-03-01"
    assert rate(Decimal("3.70")) == "年利率 3.7%"
    assert rate(Decimal("3.48"), "en") == "3.48% a year"
