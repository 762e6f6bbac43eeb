"""English is a full second language: every string marked with _() has a translation."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_file
from jinja2.ext import babel_extract

from ctown import i18n

SRC = Path(i18n.__file__).parent


def marked_strings() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for _line, msg, _c, _ctx in extract_from_file("python", str(path), keywords={"_": None}):
            if isinstance(msg, str):
                found[msg] = str(path.relative_to(SRC))
    for path in SRC.rglob("*.html"):
        with path.open("rb") as fh:
            for _line, _f, msg, _c in babel_extract(fh, ("_",), [], {}):
                if isinstance(msg, str):
                    found[msg] = str(path.relative_to(SRC))
                elif isinstance(msg, tuple) and msg and isinstance(msg[0], str):
                    found[msg[0]] = str(path.relative_to(SRC))
    return found


def test_every_marked_string_has_an_english_translation() -> None:
    english = i18n._english()
    missing = {m: where for m, where in marked_strings().items()
               if m not in english and any("\u4e00" <= ch <= "\u9fff" for ch in m)}
    assert not missing, "missing English translations:\n" + "\n".join(
        f"{where}: {m}" for m, where in sorted(missing.items(), key=lambda x: x[1]))


def test_placeholders_survive_translation() -> None:
    import re

    for msgid, text in i18n._english().items():
        assert set(re.findall(r"{(\w+)}", msgid)) == set(re.findall(r"{(\w+)}", text)), msgid
