"""Sign-in by a one-time code on both databases: the code reaches the phone on file and works
once, within 5 minutes and 5 tries; the limits per ID and per client; an unknown ID gets the
same answer, in no less time, and no SMS."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import build_county, people_frame

from ctown.accounts.models import User
from ctown.channels import otp
from ctown.channels.models import SignInCode
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.notify import tasks
from ctown.notify.channels import ConsoleBackend, MemoryBackend, Notifier, Outgoing
from ctown.notify.models import Notification

HEAD_ID = str(people_frame(1, "330521100201")["resident_id"][0])  # the farmer's household head
SPOUSE_ID = str(people_frame(1, "330521100201")["resident_id"][1])  # no phone on file
NOBODY = "330521199901019999"


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return FieldCipher.load(tmp_path / "keys.json")


@pytest.fixture
def county(session: Session, cipher: FieldCipher) -> dict[str, User]:
    return dict(build_county(session, cipher).users)


def _ask(session: Session, cipher: FieldCipher, rid: str, client: str = "10.0.0.1",
         now: dt.datetime | None = None) -> otp.Requested:
    return otp.request(session, cipher, rid, client, now=now, floor=0)


def _code_sent(session: Session, cipher: FieldCipher) -> tuple[str | None, str]:
    """What the phone received: (number, code), read from what the gateway was handed."""
    got: list[tuple[str | None, str]] = []

    class Phone(MemoryBackend):
        def send(self, notice: Outgoing) -> None:
            got.append((notice.address(cipher), notice.text()))

    tasks.deliver(session, Notifier({"sms": Phone(), "in_app": MemoryBackend()}))
    assert len(got) == 1, got
    number, text = got[0]
    match = re.search(r"验证码 (\d{6})，", text)
    assert match, text
    return number, match.group(1)


def test_the_code_goes_to_the_phone_on_file_and_signs_in_once(
        session: Session, cipher: FieldCipher, county: dict[str, User]) -> None:
    asked = _ask(session, cipher, HEAD_ID.lower())
    assert asked.ticket and asked.wait is None
    number, code = _code_sent(session, cipher)
    assert number == "13800000000"
    done = otp.verify(session, cipher, asked.ticket, f" {code} ")
    assert done.user is not None and done.user.id == county["farmer"].id
    assert otp.verify(session, cipher, asked.ticket, code).user is None  # once
    # Nothing usable is left: the row keeps no code, the outbox no clear code.
    row = session.scalar(sa.select(SignInCode).order_by(SignInCode.id.desc()))
    assert row is not None and row.code_hash is None and row.used_at is not None
    params = session.scalar(sa.select(Notification.params).where(Notification.id == row.outbox_id))
    assert params == {"code": otp.BLANK}


def test_the_code_expires_after_five_minutes(session: Session, cipher: FieldCipher,
                                             county: object) -> None:
    start = utcnow()
    asked = _ask(session, cipher, HEAD_ID, now=start)
    assert asked.ticket
    _number, code = _code_sent(session, cipher)
    late = start + dt.timedelta(minutes=5)
    assert otp.verify(session, cipher, asked.ticket, code, now=late).user is None
    assert otp.verify(session, cipher, asked.ticket, code,
                      now=late - dt.timedelta(seconds=1)).user is not None


def test_five_wrong_codes_end_it(session: Session, cipher: FieldCipher, county: object) -> None:
    asked = _ask(session, cipher, HEAD_ID)
    assert asked.ticket
    _number, code = _code_sent(session, cipher)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(otp.MAX_FAILURES):
        checked = otp.verify(session, cipher, asked.ticket, wrong)
        assert checked.user is None and checked.message is not None
        assert checked.message.msgid == otp.WRONG
    assert otp.verify(session, cipher, asked.ticket, code).user is None


def test_a_new_code_ends_the_earlier_one(session: Session, cipher: FieldCipher,
                                         county: object) -> None:
    first = _ask(session, cipher, HEAD_ID)
    _n, first_code = _code_sent(session, cipher)
    second = _ask(session, cipher, HEAD_ID)
    _n, second_code = _code_sent(session, cipher)
    assert first.ticket and second.ticket
    assert otp.verify(session, cipher, first.ticket, first_code).user is None
    assert otp.verify(session, cipher, second.ticket, second_code).user is not None


def test_the_same_answer_for_an_unknown_id(session: Session, cipher: FieldCipher,
                                           county: object) -> None:
    before = session.scalar(sa.select(sa.func.count()).select_from(Notification))
    for rid in (NOBODY, SPOUSE_ID, "not an id at all"):
        asked = _ask(session, cipher, rid)
        assert asked.ticket and asked.wait is None and asked.expires_at is not None
        for guess in ("000000", "123456"):
            checked = otp.verify(session, cipher, asked.ticket, guess)
            assert checked.user is None and checked.message is not None
            assert checked.message.msgid == otp.WRONG
    assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == before


def test_the_answer_takes_no_less_than_the_floor_either_way(
        session: Session, cipher: FieldCipher, county: object) -> None:
    slept: list[float] = []
    for rid in (HEAD_ID, NOBODY):
        otp.request(session, cipher, rid, "10.0.0.9", floor=0.3, sleep=slept.append)
    assert len(slept) == 2 and all(0 < s <= 0.3 for s in slept)


def test_limits_per_id_and_per_client(session: Session, cipher: FieldCipher,
                                      county: object) -> None:
    start = utcnow()
    for rid in (HEAD_ID, NOBODY):  # the same limit whether the ID is on file or not
        answers = [_ask(session, cipher, rid, client=f"10.1.0.{i}", now=start)
                   for i in range(otp.PER_ID + 1)]
        assert [a.ticket is not None for a in answers] == [True] * otp.PER_ID + [False]
        assert answers[-1].wait is not None and answers[-1].wait.msgid == otp.TOO_MANY
        later = start + otp.WINDOW + dt.timedelta(seconds=1)
        assert _ask(session, cipher, rid, client="10.1.1.1", now=later).ticket
    ids = [f"33052119800101{n:03d}X" for n in range(otp.PER_CLIENT + 1)]
    answers = [_ask(session, cipher, rid, client="10.2.0.1", now=start) for rid in ids]
    assert [a.ticket is not None for a in answers] == [True] * otp.PER_CLIENT + [False]


def test_the_console_backend_never_logs_the_code(session: Session, cipher: FieldCipher,
                                                 county: object,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    _ask(session, cipher, HEAD_ID)
    code_row = session.scalar(sa.select(Notification).order_by(Notification.id.desc()))
    assert code_row is not None
    code = code_row.params["code"]
    with caplog.at_level("INFO", logger="ctown.notify"):
        tasks.deliver(session, Notifier({"sms": ConsoleBackend(), "in_app": MemoryBackend()}))
    assert "one-time code sent" in caplog.text
    assert code not in caplog.text and "13800000000" not in caplog.text
