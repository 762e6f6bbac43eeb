"""The voice menu (ctown.voice.service) walked key by key on both databases: identification by
the phone on file and the resident ID's last four digits, failures that reveal nothing, the day's
budget of a number, expiry, and a message left with key 9 reaching the feedback queue. What is
said is checked against hand-written sentences of the test county's data."""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, build_county, resident_id

from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import NotFound
from ctown.feedback.models import Feedback
from ctown.lending.models import Instalment, Loan
from ctown.registry.models import Subject
from ctown.registry.tasks import upsert_people
from ctown.scoring.service import record_grade
from ctown.voice import service
from ctown.voice.models import VoiceCall

TODAY = dt.date(2026, 11, 25)
PHONE = "13800000000"                                # head of household 0 of village A
LAST4 = resident_id(dt.date(1950, 1, 1), 1)[-4:]     # that head's resident ID (factories)
WELCOME = "您好，这里是信用乡语音服务。请输入您身份证号码的最后四位，最后一位是X请按星号键。"
MENU = "查信用等级和它带来的好处请按1，下一期还款请按2，听一条小建议请按3，留言请按9，重听请按0。"
AGAIN = "重听请按0，返回菜单请按星号键。"
RETRY = "没有核实到您的身份，请重新输入身份证号码的最后四位。"
GENERAL = ("很抱歉，没有核实到您的身份。请带上身份证到村委会登记手机号，或请村信用信息员帮您查询。"
           "再见。")
REASONS = [
    {"code": "I0301", "points": 14, "direction": "up", "zh": "按时还款记录：+14 分",
     "en": "On-time repayments: +14 points"},
    {"code": "I0502", "points": 22, "direction": "improve", "zh": "按期还清逾期欠款（最多可加 22 分）",
     "en": "Repay the overdue amount (up to 22 points)"},
]


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return FieldCipher.load(tmp_path / "k.json")


@pytest.fixture
def home(session: Session, cipher: FieldCipher) -> int:
    """Household 0 of village A: graded B1, a loan whose first instalment is paid."""
    build_county(session, cipher)
    household = session.scalar(sa.select(Subject.id).where(
        Subject.household_no == f"H{VILLAGE_A[-6:]}00000"))
    assert household is not None
    record_grade(session, subject_id=household, score=650, grade="B1", pd=0.02, reasons=REASONS,
                 model_version="m001", actor=None)
    loan = Loan(contract_no="RCB-V1", subject_id=household, product_code="rcb_credit",
                product_kind="pure_credit", bank_code="RCB001", village_code=VILLAGE_A,
                grade="B1", principal=Decimal("30000.00"), rate_pct=Decimal("3.70"),
                term_months=2, method="equal_instalment", disbursed_on=dt.date(2026, 10, 20),
                outstanding=Decimal("15046.06"))
    session.add(loan)
    session.flush()
    session.add_all([
        Instalment(loan_id=loan.id, number=1, due_on=dt.date(2026, 11, 20),
                   principal=Decimal("14953.94"), interest=Decimal("92.50"),
                   paid=Decimal("15046.44")),
        Instalment(loan_id=loan.id, number=2, due_on=dt.date(2026, 12, 20),
                   principal=Decimal("15046.06"), interest=Decimal("46.39"))])
    session.flush()
    return household


def _walk(session: Session, cipher: FieldCipher, call_id: str, caller: str | None,
          *keys: str, now: dt.datetime | None = None) -> list[service.Reply]:
    replies = [service.start(session, cipher, call_id=call_id, caller=caller, now=now)]
    for key in keys:
        replies.append(service.press(session, cipher, call_id=call_id, digits=key, now=now,
                                     today=TODAY))
    return replies


def test_a_call_walked_key_by_key(session: Session, cipher: FieldCipher, home: int,
                                  caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    replies = _walk(session, cipher, "c-1", "+86 138 0000 0000", LAST4, "1", "2", "3", "0", "*",
                    "7")
    said = [r.say for r in replies]
    assert [r.expect_digits for r in replies] == [4, 1, 1, 1, 1, 1, 1, 1]
    assert said[:2] == [WELCOME, MENU]
    # B1, household (tests/test_farmer_summary.py): the best offer of the product files.
    assert said[2] == (
        "您家的信用等级是信用良好一档（B1级）。这个等级可以享受："
        "信用+抵押贷（宅基地使用权、大型农机）：最高 30万元，年利率 3.92%，不需要担保人。" + AGAIN)
    assert said[3] == "下一期还款：2026年12月20日，应还15092.45元，信用贷（纯信用）。" + AGAIN
    assert said[4] == "小建议：按期还清逾期欠款（最多可加 22 分）。" + AGAIN
    assert said[5] == said[4]  # 0 repeats
    assert said[6] == MENU and said[7] == "没有这个选项。" + MENU
    call = session.scalar(sa.select(VoiceCall).where(VoiceCall.call_id == "c-1"))
    assert call is not None and call.state == "menu" and call.failures == 0
    head = session.get(Subject, call.subject_id)
    assert head is not None and head.household_id == home
    # Nothing personal in the log or the row: no number, no ID, no digits pressed.
    for secret in (PHONE, "0000 0000", LAST4, resident_id(dt.date(1950, 1, 1), 1)):
        assert secret not in caplog.text
        assert secret not in repr([getattr(call, c.key) for c in VoiceCall.__table__.columns])


def test_an_overdue_instalment_and_a_household_without_a_grade(
        session: Session, cipher: FieldCipher, home: int) -> None:
    other_phone, other_last4 = "13800000001", resident_id(dt.date(1951, 2, 2), 3)[-4:]
    replies = _walk(session, cipher, "c-2", other_phone, other_last4, "1", "2", "3")
    assert [r.say for r in replies[2:]] == [
        "您家还没有信用等级。" + AGAIN, "您家目前没有要还的贷款。" + AGAIN,
        "目前没有新的建议，请继续按时还款。" + AGAIN]
    session.execute(sa.update(Instalment).where(Instalment.number == 1)
                    .values(paid=Decimal("5000.00")))
    replies = _walk(session, cipher, "c-3", PHONE, LAST4, "2")
    assert replies[-1].say == ("下一期还款：2026年11月20日，应还10046.44元，信用贷（纯信用）。"
                               "这一期已经逾期，请尽快还款；有困难请联系贷款银行。" + AGAIN)


def test_wrong_digits_three_times_end_the_call_with_the_general_message(
        session: Session, cipher: FieldCipher, home: int) -> None:
    replies = _walk(session, cipher, "c-4", PHONE, "1234", "12", "abcd")
    assert [(r.say, r.expect_digits) for r in replies[1:]] == [(RETRY, 4), (RETRY, 4),
                                                               (GENERAL, 0)]
    after = service.press(session, cipher, call_id="c-4", digits=LAST4)
    assert (after.say, after.expect_digits) == ("通话已超时，请挂机后重新拨打。", 0)


def test_an_unknown_number_hears_exactly_what_a_wrong_id_hears(
        session: Session, cipher: FieldCipher, home: int) -> None:
    known = _walk(session, cipher, "c-5", PHONE, "9999", "9999", "9999")
    unknown = _walk(session, cipher, "c-6", "13912345678", LAST4, LAST4, LAST4)
    hidden = _walk(session, cipher, "c-7", None, LAST4, LAST4, LAST4)
    assert [r.say for r in known] == [r.say for r in unknown] == [r.say for r in hidden]
    assert [r.say for r in unknown] == [WELCOME, RETRY, RETRY, GENERAL]
    rows = session.scalars(sa.select(VoiceCall).where(VoiceCall.call_id.in_(["c-6", "c-7"])))
    assert all(row.subject_id is None for row in rows)


def test_someone_elses_digits_from_this_phone_do_not_identify(
        session: Session, cipher: FieldCipher, home: int) -> None:
    spouse_last4 = resident_id(dt.date(1952, 1, 1), 2)[-4:]  # on file without a phone
    replies = _walk(session, cipher, "c-8", PHONE, spouse_last4)
    assert replies[-1].say == RETRY


def test_a_number_has_a_days_budget_of_failures_across_calls(
        session: Session, cipher: FieldCipher, home: int) -> None:
    for n in range(service.DAILY_FAILURES // service.MAX_TRIES + 1):
        _walk(session, cipher, f"g-{n}", PHONE, "0000", "0000", "0000")
    spent = _walk(session, cipher, "g-right", PHONE, LAST4)
    assert spent[-1].say == RETRY  # even the right digits, and said the same way
    tomorrow = utcnow() + dt.timedelta(days=1, minutes=1)
    fresh = _walk(session, cipher, "g-tomorrow", PHONE, LAST4, now=tomorrow)
    assert fresh[-1].say == MENU


def test_an_x_at_the_end_of_the_id_is_the_star_key(session: Session, cipher: FieldCipher,
                                                   home: int) -> None:
    import polars as pl

    seq = next(s for s in range(1, 999) if resident_id(dt.date(1970, 5, 5), s).endswith("X"))
    rid = resident_id(dt.date(1970, 5, 5), seq)
    upsert_people(session, cipher, pl.DataFrame([{
        "household_no": "HX0001", "name": "王五", "resident_id": rid, "relation": "户主",
        "gender": "M", "birth_date": dt.date(1970, 5, 5), "village_code": VILLAGE_A,
        "phone": "13700000009"}]), actor=None, source="test")
    replies = _walk(session, cipher, "c-x", "13700000009", rid[-4:-1] + "*")
    assert replies[-1].say == MENU
    ended = _walk(session, cipher, "c-x2", "13700000009", rid[-4:-1] + "*#")  # "#" to end
    assert ended[-1].say == MENU


def test_calls_expire_when_idle_and_an_unknown_call_is_not_found(
        session: Session, cipher: FieldCipher, home: int) -> None:
    start = utcnow()
    _walk(session, cipher, "c-9", PHONE, now=start)
    late = service.press(session, cipher, call_id="c-9", digits=LAST4,
                         now=start + service.IDLE + dt.timedelta(seconds=1))
    assert (late.say, late.expect_digits) == ("通话已超时，请挂机后重新拨打。", 0)
    with pytest.raises(NotFound):
        service.press(session, cipher, call_id="nobody", digits="1")
    # A repeated start of the same call is told where it is, not restarted.
    again = service.start(session, cipher, call_id="c-9", caller=PHONE)
    assert again.expect_digits == 0


def test_old_calls_are_deleted_when_a_new_one_starts(session: Session, cipher: FieldCipher,
                                                     home: int) -> None:
    long_ago = utcnow() - service.KEEP - dt.timedelta(hours=1)
    _walk(session, cipher, "old", PHONE, now=long_ago)
    _walk(session, cipher, "new", PHONE)
    ids = set(session.scalars(sa.select(VoiceCall.call_id)))
    assert "old" not in ids and "new" in ids


def test_a_message_left_with_key_9_reaches_the_feedback_queue(
        session: Session, cipher: FieldCipher, home: int) -> None:
    replies = _walk(session, cipher, "c-10", PHONE, LAST4, "9")
    assert replies[-1] == service.Reply("请在提示音后说出您的意见或投诉，说完请按井号键。", 1)
    taken = service.press(session, cipher, call_id="c-10", digits="#", recording="rec/2026/abc.wav")
    assert taken.say == "您的留言已收到，我们会在四十八小时内答复。" + MENU
    item = session.scalar(sa.select(Feedback).where(Feedback.recording_ref == "rec/2026/abc.wav"))
    assert item is not None and (item.channel, item.kind, item.subject_id) == (
        "voice", "feedback", home)
    call = session.scalar(sa.select(VoiceCall).where(VoiceCall.call_id == "c-10"))
    assert call is not None and call.message_ref == item.ref and call.state == "menu"
    service.press(session, cipher, call_id="c-10", digits="9")
    nothing = service.press(session, cipher, call_id="c-10", digits="#")
    assert nothing.say == "没有录到留言。" + MENU
