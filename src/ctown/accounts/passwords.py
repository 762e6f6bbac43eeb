"""The password policy (密码策略) for passwords chosen by people, and one-time codes.

Applies to every password a person sets — through the CLI, a page or the API (``service``
functions ``add_user``, ``reset_password``, ``change_own_password``): at least
``password_min_length`` characters (10 by default), at most 128, not one of the passwords people
choose most (``data/common-passwords.txt``, English and Chinese lists, ``tools/
common_passwords.py``), not the username nor containing it. The county's own scripts
(``service.create_user``: the demo, whose README says username = password, and the tests) set
passwords without it.
"""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path

from ctown.errors import Invalid
from ctown.i18n import Message, _

MAX_LENGTH = 128
COMMON = Path(__file__).parent / "data" / "common-passwords.txt"
#: One-time codes avoid look-alikes (0/O, 1/l/I) so they can be read out over the phone.
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The refused list, lower case (about 7,800 entries; read once per process)."""
    lines = COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def check_password(password: str, *, username: str, min_length: int) -> None:
    """Refuse a password a person may not choose (Invalid, saying why)."""
    if len(password) < min_length:
        raise Invalid(Message(_("密码至少需要 {n} 个字符"), {"n": min_length}))
    if len(password) > MAX_LENGTH:
        raise Invalid(Message(_("密码最多 {n} 个字符"), {"n": MAX_LENGTH}))
    lowered = password.lower()
    if lowered in common_passwords():
        raise Invalid(Message(_("这个密码太常见，容易被猜中，请换一个")))
    name = username.lower()
    if name and (name in lowered or lowered in name):
        raise Invalid(Message(_("密码不能是用户名，也不能包含用户名")))


def one_time_code() -> str:
    """A random first password shown once (一次性密码), changed at the first login: 15 letters
    and digits in three groups, about 74 bits."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(15))
    return "-".join(raw[i:i + 5] for i in range(0, 15, 5))
