"""SMS commands (短信指令): reading what a farmer typed, and replies that fit one segment.

A command is a Chinese word or its pinyin initials, at the start of the message, in any width or
case, with spaces anywhere: ``查询`` / ``CX`` the grade, ``额度`` / ``ED`` the credit line and
offers, ``还款`` / ``HK`` the next instalment, ``帮助`` / ``BZ`` help, ``退订`` / ``TD`` opt out,
``订阅`` / ``DY`` opt back in, ``反馈 …`` / ``FK …`` feedback and ``投诉 …`` / ``TS …`` a complaint
(the rest of the message is its text). Anything else is answered with help.

Every reply is at most :data:`SEGMENT` characters: one GSM-7/UCS-2 segment of Chinese (70), the
unit operators bill and deliver whole. :func:`fit` builds a reply from a part that must be there
and parts that are added only while they fit.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

#: Characters of one SMS segment in UCS-2 (Chinese): a longer text is split and may arrive torn.
SEGMENT = 70
#: What of a message is read (a gateway may hand over a concatenated long message).
MAX_READ = 500


class Command(StrEnum):
    grade = "cx"
    credit = "ed"
    repay = "hk"
    help = "bz"
    opt_out = "td"
    opt_in = "dy"
    feedback = "fk"
    complaint = "ts"
    unknown = "help"  # anything else: answered with help


WORDS: dict[str, Command] = {
    "查询": Command.grade, "额度": Command.credit, "还款": Command.repay, "帮助": Command.help,
    "退订": Command.opt_out, "订阅": Command.opt_in, "反馈": Command.feedback,
    "投诉": Command.complaint,
}
INITIALS: dict[str, Command] = {c.value.upper(): c for c in Command if c is not Command.unknown}


@dataclass(frozen=True)
class Parsed:
    command: Command
    rest: str = ""  # the text after the command (feedback's words)


def normalise(text: str) -> str:
    """Full-width to half-width (ＣＸ → CX, the ideographic space → a space), upper case, one
    space between words, control characters dropped."""
    text = unicodedata.normalize("NFKC", text[:MAX_READ])
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n\t")
    return " ".join(text.split()).upper()


def _head(word: str) -> re.Pattern[str]:
    # Spaces may fall between the characters of a command ("查 询", "C X").
    return re.compile(r"\s*".join(map(re.escape, word)))


_HEADS = [(_head(w), c, False) for w, c in WORDS.items()] + \
         [(_head(w), c, True) for w, c in INITIALS.items()]
_PUNCT = " :：,，.。、!！?？-—~～"


def parse(text: str) -> Parsed:
    """The command at the start of ``text`` and what follows it."""
    clean = normalise(text).lstrip(_PUNCT)
    for pattern, command, letters in _HEADS:
        m = pattern.match(clean)
        if m is None:
            continue
        rest = clean[m.end():]
        if letters and rest[:1].isascii() and rest[:1].isalpha():
            continue  # "CXY" is not CX: initials end where the letters end
        return Parsed(command, rest.strip(_PUNCT))
    return Parsed(Command.unknown)


def fit(required: str, optional: Sequence[str] = (), limit: int = SEGMENT) -> str:
    """``required``, then each optional part that still fits, within ``limit`` characters."""
    text = required if len(required) <= limit else required[:limit - 1] + "…"
    for part in optional:
        if part and len(text) + len(part) <= limit:
            text += part
    return text
