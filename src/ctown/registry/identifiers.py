"""Identifiers of subjects: resident ID (居民身份证号码, GB 11643-1999) and unified social credit
code (统一社会信用代码, GB 32100-2015), with the normalisation Excel exports need.

Written here rather than taken from a library: the PyPI validators check only the check character
and reject retired county codes, while old IDs stay valid after divisions merge.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from ctown.i18n import Message, _

# GB 11643: weights 2^(17-i) mod 11, check character 'X' stands for 10.
_ID_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ID_CHECK = "10X98765432"
# First two digits: provinces of GB/T 2260 (incl. Hong Kong, Macao, Taiwan residence permits 81-83).
_PROVINCES = frozenset(str(n) for n in (
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83))
# GB 32100: 31 characters (no I, O, Z, S, V) and weights 3^i mod 31.
USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARSET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# [0-9], not \d: \d (and str.isdigit, int()) also take the digits of other scripts (٠١٢, ०१२), and
# an ID stored with one of them is a second person to every look-up by the ASCII ID.
_EXCEL_FLOAT = re.compile(r"^[0-9](\.[0-9]+)?[eE][+]?[0-9]+$")


class IdentifierError(ValueError):
    """An identifier that cannot be accepted; ``message`` says why in zh and en."""

    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class ResidentId:
    value: str
    birth_date: dt.date
    male: bool

    @property
    def region(self) -> str:
        return self.value[:6]


def normalise(raw: object) -> str:
    """Full-width to half-width (NFKC), drop spaces, dashes and an apostrophe Excel adds, upper-case."""
    text = unicodedata.normalize("NFKC", str(raw)).strip().lstrip("'")
    return re.sub(r"[\s\-]", "", text).upper()


def _refuse_excel_number(text: str) -> None:
    if _EXCEL_FLOAT.match(text):
        raise IdentifierError(Message(_(
            "证件号 {value} 已被 Excel 转成科学计数法，后几位已丢失：请把该列设为“文本”格式后重新导出"),
            {"value": text}))
    if text.endswith(".0") and text[:-2].isdigit():
        raise IdentifierError(Message(_(
            "证件号 {value} 被 Excel 当作数字保存：请把该列设为“文本”格式后重新导出"), {"value": text}))


def resident_id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def parse_resident_id(raw: object, today: dt.date | None = None) -> ResidentId:
    """Validate and normalise a resident ID; a 15-digit first-generation ID is upgraded to 18."""
    text = normalise(raw)
    _refuse_excel_number(text)
    if re.fullmatch(r"[0-9]{15}", text):
        text = text[:6] + "19" + text[6:] + "?"
        text = text[:17] + resident_id_check_char(text[:17])
    if not re.fullmatch(r"[0-9]{17}[0-9X]", text):
        raise IdentifierError(Message(_(
            "身份证号 {value} 应为18位（前17位数字，最后一位数字或X），现为{length}位"),
            {"value": text, "length": len(text)}))
    if text[:2] not in _PROVINCES:
        raise IdentifierError(Message(_("身份证号 {value} 的地址码 {code} 不是有效的省级代码"),
                                      {"value": text, "code": text[:2]}))
    try:
        birth = dt.date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        raise IdentifierError(Message(_("身份证号 {value} 的出生日期 {date} 不存在"),
                                      {"value": text, "date": text[6:14]})) from None
    if not dt.date(1880, 1, 1) <= birth <= (today or dt.date.today()):  # noqa: DTZ011 calendar date
        raise IdentifierError(Message(_("身份证号 {value} 的出生日期 {date} 不在合理范围"),
                                      {"value": text, "date": birth.isoformat()}))
    expected = resident_id_check_char(text[:17])
    if text[17] != expected:
        hint = _("；末三位为000，可能是 Excel 只保留了15位有效数字") if text.endswith("000") else ""
        raise IdentifierError(Message(_(
            "身份证号 {value} 校验位应为 {expected}，实为 {actual}{hint}"),
            {"value": text, "expected": expected, "actual": text[17], "hint": hint}))
    return ResidentId(text, birth, int(text[16]) % 2 == 1)


def uscc_check_char(first17: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def parse_uscc(raw: object) -> str:
    """Validate a unified social credit code; returns it normalised."""
    text = normalise(raw)
    _refuse_excel_number(text)
    if len(text) != 18:
        raise IdentifierError(Message(_("统一社会信用代码 {value} 应为18位，现为{length}位"),
                                      {"value": text, "length": len(text)}))
    bad = sorted({c for c in text if c not in _USCC_VALUE})
    if bad:
        raise IdentifierError(Message(_(
            "统一社会信用代码 {value} 含有标准不允许的字符 {chars}（不使用 I、O、Z、S、V）"),
            {"value": text, "chars": "".join(bad)}))
    expected = uscc_check_char(text[:17])
    if text[17] != expected:
        raise IdentifierError(Message(_("统一社会信用代码 {value} 校验位应为 {expected}，实为 {actual}"),
                                      {"value": text, "expected": expected, "actual": text[17]}))
    return text


def division_code_level(code: str) -> str:
    """Level of a 12-digit statistical division code (统计用区划代码): county, township or village."""
    if not re.fullmatch(r"[0-9]{12}", code):
        raise IdentifierError(Message(_("区划代码 {value} 应为12位数字"), {"value": code}))
    if code[6:] == "000000":
        return "county"
    if code[9:] == "000":
        return "township"
    return "village"


def division_prefix(code: str) -> str:
    """The prefix every code inside this division shares (county 6, township 9, village 12 digits)."""
    return {"county": code[:6], "township": code[:9], "village": code}[division_code_level(code)]
