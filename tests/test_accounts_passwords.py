"""The password policy for passwords people choose: length, the shipped common-password list
(English and Chinese), the username; one-time codes."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from ctown.accounts import passwords
from ctown.accounts.passwords import check_password, common_passwords, one_time_code
from ctown.errors import Invalid

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("password", [
    "123456", "password", "qwertyuiop", "1234567890", "woaini1314", "5201314", "a123456",
    "qq123456", "Woaini1314", "zhangwei123456", "wangfang5201314", "liu123456789",
    "1qaz2wsx3edc", "5201314520", "password123", "iloveyou1314", "8888888888"])
def test_common_passwords_are_refused(password: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_password(password, username="someone", min_length=6)
    assert "common" in refused.value.message.render("en") or "at least" in \
        refused.value.message.render("en")


def test_the_list_is_english_and_chinese_and_a_few_thousand_long() -> None:
    words = common_passwords()
    assert 3000 <= len(words) <= 20000
    assert {"123456", "password", "dragon", "woaini1314", "5201314", "qq123456", "a123456",
            "zhangwei123"} <= words
    assert all(w == w.lower() and not w.startswith("#") for w in words)


def test_the_list_ships_inside_the_package() -> None:
    """Hatch packs every file under src/ctown (templates, locale, data) into the wheel."""
    assert passwords.COMMON.is_file()
    assert passwords.COMMON.is_relative_to(ROOT / "src" / "ctown" / "accounts")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["src/ctown"]


def test_length_limits() -> None:
    with pytest.raises(Invalid, match="10"):
        check_password("Kx9#mQ2vL", username="li", min_length=10)  # 9 characters
    check_password("Kx9#mQ2vLp", username="li", min_length=10)       # 10: accepted
    check_password("x" * 60 + "Kx9#mQ2vLp" * 6 + "y" * 8, username="li", min_length=10)  # 128
    with pytest.raises(Invalid, match="128"):
        check_password("Kx9#mQ2vLp" * 13, username="li", min_length=10)


@pytest.mark.parametrize("password", ["zhangsan2026", "ZhangSan-Kx9#", "my.zhangsan.pw"])
def test_the_username_is_refused_inside_the_password(password: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_password(password, username="zhangsan", min_length=10)
    assert "username" in refused.value.message.render("en")
    assert "用户名" in refused.value.message.render("zh_Hans")


def test_a_good_password_passes() -> None:
    check_password("稻田-晚霞-2026-kx", username="zhangsan", min_length=10)


def test_one_time_codes() -> None:
    codes = {one_time_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        assert re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}", code)
        assert not set(code) & set("01lio")
        check_password(code, username="admin", min_length=10)  # a code passes its own policy
