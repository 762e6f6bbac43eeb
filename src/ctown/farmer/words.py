"""Plain words for the farmer (大白话): money in yuan with 万 where natural, Beijing time.

Read by the farmer's pages, the SMS and the voice channel alike, so a figure reads the same on
every channel: 35,000 yuan is "3.5万元" on the page and in the text message.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ctown.access.rules import local_time
from ctown.i18n import _, normalise_locale, translate

WAN = Decimal(10_000)
YI = Decimal(100_000_000)


def _plain(value: Decimal) -> str:
    """A Decimal without trailing zeros or exponent: 3.50 → "3.5", 1E+1 → "10"."""
    text = f"{value.normalize():f}"
    return text


def yuan(amount: Decimal | int, locale: str | None = None) -> str:
    """An amount in words: "3.5万元", "800元", "1234.56元" (en: "35,000 yuan").

    万 (and 亿) only where natural: when the amount in 万 has at most two decimals, as people
    say it (15万, 3.5万, 1.25万); 12,345 stays "12345元" rather than "1.2345万元".
    """
    value = Decimal(amount).quantize(Decimal("0.01"))
    sign, value = ("-" if value < 0 else ""), abs(value)
    if normalise_locale(locale) == "en":
        number = f"{value:,.2f}".removesuffix(".00")
        return translate(_("{amount}元"), "en", amount=sign + number)
    for unit, size in ((_("{amount}亿元"), YI), (_("{amount}万元"), WAN)):
        scaled = value / size
        if value >= size and scaled == scaled.quantize(Decimal("0.01")):
            return translate(unit, locale, amount=sign + _plain(scaled))
    return translate(_("{amount}元"), locale, amount=sign + _plain(value))


def beijing(at: dt.datetime, locale: str | None = None) -> str:
    """A stored time as the farmer reads it, Beijing time: "2026年12月3日 18:30" (en:
    "2026-12-03 18:30"). A naive time is taken as UTC (how the database returns it)."""
    moment = at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
    local = local_time(moment)
    return f"{day(local.date(), locale)} {local:%H:%M}"


def day(on: dt.date, locale: str | None = None) -> str:
    """A calendar day: "2026年12月3日" (en: "2026-12-03")."""
    if normalise_locale(locale) == "en":
        return on.isoformat()
    return f"{on.year}年{on.month}月{on.day}日"


def rate(pct: Decimal, locale: str | None = None) -> str:
    """An annual rate: "年利率 3.7%" (en: "3.7% a year")."""
    return translate(_("年利率 {rate}%"), locale, rate=_plain(pct))
