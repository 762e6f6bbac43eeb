"""Text as it is spoken (口语化): figures to Chinese words, then Chinese to tone-numbered pinyin.

espeak-ng's ``cmn`` voice reads the characters itself but says tone digits and figures as English
("yin two") on Debian 12; its ``cmn-latn-pinyin`` voice speaks pinyin with tone numbers properly.
So the text is prepared here: amounts, dates, times, percentages and other figures become Chinese
words (cn2an: 12,500.50元 → 一万二千五百元五角), then pypinyin gives each character its reading
from the phrase around it (银行 yin2 hang2, 行长 hang2 zhang3, 重庆 chong2 qing4). pypinyin's
dictionary reads 还款 as "hai2 kuan3" (还 = still); the words of repayment are taught below.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

import cn2an  # type: ignore[import-untyped]  # no stubs; two functions used
from pypinyin import Style, lazy_pinyin, load_phrases_dict

#: Bumped when the conversion changes, so cached audio of the old reading is not served again.
VERSION = "1"

#: Words of lending that pypinyin's dictionary reads otherwise (还 as hai2 "still").
PHRASES = {
    "还款": [["huán"], ["kuǎn"]],
    "还贷": [["huán"], ["dài"]],
    "还清": [["huán"], ["qīng"]],
    "还本": [["huán"], ["běn"]],
    "待还": [["dài"], ["huán"]],
    "应还": [["yīng"], ["huán"]],
    "归还": [["guī"], ["huán"]],
    "偿还": [["cháng"], ["huán"]],
    "按时还": [["àn"], ["shí"], ["huán"]],
    "一档": [["yī"], ["dàng"]],
    "二档": [["èr"], ["dàng"]],
}

#: Latin letters (grades A1…E2, AAA) as a Chinese listener says them.
LETTERS = {"A": "ei1", "B": "bi4", "C": "xi1", "D": "di4", "E": "yi4", "X": "ai4 ke4 si1"}

_CJK = re.compile(r"[\u3400-\u9fff]")
_AMOUNT = re.compile(r"(\d[\d,]*(?:\.\d+)?)\s*(万|亿)?\s*元")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_TIME = re.compile(r"\b(\d{1,2}):(\d{2})\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_DIGITS = "零一二三四五六七八九"


@lru_cache(maxsize=1)
def _taught() -> bool:
    """pypinyin's phrase table is the process's: extended once, on first use."""
    load_phrases_dict(PHRASES)
    return True


def number(text: str) -> str:
    """A figure in words: "12500" → 一万二千五百, "3.5" → 三点五."""
    return str(cn2an.an2cn(text.replace(",", ""), "low"))


def money(text: str) -> str:
    """An amount of yuan as it is said: 12,500.50 → 一万二千五百元五角, 3.05 → 三元零五分."""
    try:
        value = Decimal(text.replace(",", "")).quantize(Decimal("0.01"))
    except InvalidOperation:
        return text
    whole, cents = divmod(int(value * 100), 100)
    jiao, fen = divmod(cents, 10)
    words = number(str(whole)) + "元" if whole or not cents else ""  # 0.50元: 五角
    if jiao:
        words += _DIGITS[jiao] + "角"
    if fen:
        words += ("零" if words and not jiao else "") + _DIGITS[fen] + "分"
    return words


def _year(digits: str) -> str:
    return "".join(_DIGITS[int(d)] for d in digits)


def words(text: str) -> str:
    """Every figure of ``text`` in Chinese words (dates, times, amounts, percentages, numbers)."""
    text = _DATE.sub(lambda m: f"{_year(m[1])}年{number(m[2])}月{number(m[3])}日", text)
    text = _ISO_DATE.sub(lambda m: f"{_year(m[1])}年{number(m[2])}月{number(m[3])}日", text)
    text = _TIME.sub(lambda m: f"{number(m[1])}点" + (f"{number(m[2])}分" if int(m[2]) else ""),
                     text)
    text = _AMOUNT.sub(lambda m: (number(m[1]) + m[2] + "元") if m[2] else money(m[1]), text)
    text = _PERCENT.sub(lambda m: "百分之" + number(m[1]), text)
    return _NUMBER.sub(lambda m: number(m[0]), text)


def has_chinese(text: str) -> bool:
    return bool(_CJK.search(text))


def pinyin(text: str) -> str:
    """Chinese text as tone-numbered pinyin for ``cmn-latn-pinyin`` (figures read as words first;
    punctuation kept as pauses; Latin letters as they are said)."""
    _taught()
    out: list[str] = []
    for part in lazy_pinyin(words(text), style=Style.TONE3, neutral_tone_with_five=True):
        out.append(part if re.fullmatch(r"[a-z]+[1-5]", part) else _other(part))
    return re.sub(r"\s+", " ", " ".join(out)).strip()


def _other(part: str) -> str:
    """What pypinyin leaves alone (a run of non-Chinese characters): punctuation becomes a
    pause, letters are spelt out, anything else is dropped."""
    said = []
    for ch in part:
        if ch in "，、；：,;:（）()":
            said.append(",")
        elif ch in "。！？!?.…":
            said.append(".")
        elif ch.upper() in LETTERS:
            said.append(LETTERS[ch.upper()])
    return " ".join(said)
