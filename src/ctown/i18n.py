"""Translations: Chinese is the source language, English the second.

Code marks user-facing text with ``_("中文 {placeholder}")``; each capability keeps its English
catalogue in ``ctown/<capability>/locale/en.po`` (msgid = the Chinese text), read with Babel at
start-up. ``tests/test_i18n.py`` extracts every ``_()`` string with Babel and fails on a missing
translation, so English stays a full second language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

LOCALES = ("zh_Hans", "en")
DEFAULT_LOCALE = "zh_Hans"
_ROOT = Path(__file__).parent


@lru_cache(maxsize=1)
def _english() -> dict[str, str]:
    table: dict[str, str] = {}
    for po in sorted(_ROOT.glob("*/locale/en.po")) + sorted(_ROOT.glob("locale/en.po")):
        with po.open("rb") as fh:
            for msg in read_po(fh):
                if msg.id and msg.string:
                    table[str(msg.id)] = str(msg.string)
    return table


def normalise_locale(value: str | None) -> str:
    if value and value.lower().startswith("en"):
        return "en"
    return DEFAULT_LOCALE


def translate(msgid: str, locale: str | None = None, /, **params: Any) -> str:
    text = _english().get(msgid, msgid) if normalise_locale(locale) == "en" else msgid
    return text.format(**params) if params else text


def _(msgid: str) -> str:
    """Marks a string for extraction; returns it unchanged (translated when rendered)."""
    return msgid


@dataclass(frozen=True)
class Message:
    """A user-facing message kept untranslated until it is shown (stored in zh and en)."""

    msgid: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, locale: str | None = None) -> str:
        return translate(self.msgid, locale, **self.params)

    def both(self) -> dict[str, str]:
        return {"zh": self.render("zh_Hans"), "en": self.render("en")}

    def __str__(self) -> str:
        return f"{self.render('zh_Hans')} / {self.render('en')}"
