"""The voice menu (语音菜单): a call walked key by key.

welcome → identify (the phone on file and the last four digits of the resident ID, three tries)
→ menu: 1 grade and what it brings, 2 the next instalment, 3 a tip, 9 leave a message, 0 repeat,
* back. An unknown number hears the same prompts and, after its tries, the general message: the
answer to a number not on file, to a wrong ID and to a spent budget is the same, so the menu tells
nobody whether a number or an ID is registered. A number has a day's budget of failed tries across
calls (otherwise 10,000 four-digit guesses are 3,334 calls). Calls expire when idle.

The replies are plain text; :mod:`ctown.voice.api` speaks them (:mod:`ctown.voice.tts`).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.db import utcnow
from ctown.errors import DomainError, NotFound
from ctown.i18n import Message, _, translate
from ctown.registry.models import Subject
from ctown.registry.service import resident_id_of
from ctown.voice.models import VoiceCall

if TYPE_CHECKING:
    from ctown.crypto import FieldCipher
    from ctown.farmer.summary import FarmerSummary

log = logging.getLogger(__name__)

LOCALE = "zh_Hans"  # the voice speaks Mandarin
MAX_TRIES = 3
#: Failed identifications a number may make in a day, over all its calls.
DAILY_FAILURES = 10
#: A call with no key for this long is over (the platform hangs up long before).
IDLE = dt.timedelta(minutes=10)
#: Calls are kept this long (the failure budget reads a day of them), then deleted.
KEEP = dt.timedelta(days=2)
#: What of "what the grade brings" is read out: the best line (each is ~10 s spoken; two made the
#: reply 40 s long, benchmarks/voice.py).
BENEFITS_SAID = 1

WELCOME = _("您好，这里是信用乡语音服务。请输入您身份证号码的最后四位，最后一位是X请按星号键。")
NOT_VERIFIED = _("没有核实到您的身份，请重新输入身份证号码的最后四位。")
GENERAL = _("很抱歉，没有核实到您的身份。请带上身份证到村委会登记手机号，或请村信用信息员帮您查询。再见。")
MENU = _("查信用等级和它带来的好处请按1，下一期还款请按2，听一条小建议请按3，留言请按9，重听请按0。")
AGAIN = _("重听请按0，返回菜单请按星号键。")
BAD_KEY = _("没有这个选项。")
NO_GRADE = _("您家还没有信用等级。")
GRADE = _("您家的信用等级是{words}。")
BENEFITS = _("这个等级可以享受：{benefits}。")
NO_BENEFITS = _("目前没有适用这个等级的贷款产品。")
NEXT = _("下一期还款：{day}，应还{amount}，{product}。")
OVERDUE = _("这一期已经逾期，请尽快还款；有困难请联系贷款银行。")
NO_LOAN = _("您家目前没有要还的贷款。")
TIP = _("小建议：{tip}。")
NO_TIP = _("目前没有新的建议，请继续按时还款。")
RECORD = _("请在提示音后说出您的意见或投诉，说完请按井号键。")
TAKEN = _("您的留言已收到，我们会在四十八小时内答复。")
NOT_RECORDED = _("没有录到留言。")
NO_MESSAGES = _("暂时不能留言，请到村委会反映。")
UNAVAILABLE = _("暂时查不到您家的信息，请稍后再拨。")
EXPIRED = _("通话已超时，请挂机后重新拨打。")


@dataclass(frozen=True)
class Reply:
    """What the platform plays, and how many keys it collects next (0: it hangs up)."""

    say: str
    expect_digits: int


def _say(*parts: str, **params: str) -> str:
    return "".join(translate(p, LOCALE, **params) for p in parts)


def phone_key(cipher: FieldCipher, caller: str | None) -> str | None:
    """The blind index of a caller's number as the registry keeps it: 11 digits, no +86."""
    digits = re.sub(r"\D", "", caller or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return cipher.blind_index(digits, "phone") if digits else None


def start(session: Session, cipher: FieldCipher, *, call_id: str, caller: str | None,
          now: dt.datetime | None = None) -> Reply:
    """A call comes in: the welcome (the same for every number). The platform repeating the
    same call id gets the prompt of where the call is."""
    now = now or utcnow()
    call = session.scalar(sa.select(VoiceCall).where(VoiceCall.call_id == call_id))
    if call is not None:
        return _prompt(call)
    session.execute(sa.delete(VoiceCall).where(VoiceCall.started_at < now - KEEP))
    call = VoiceCall(call_id=call_id, phone_index=phone_key(cipher, caller), state="identify",
                     failures=0, started_at=now, updated_at=now, expires_at=now + IDLE)
    session.add(call)
    session.flush()
    log.info("voice call %s started", call.id)
    return Reply(_say(WELCOME), 4)


def press(session: Session, cipher: FieldCipher, *, call_id: str, digits: str,
          recording: str | None = None, now: dt.datetime | None = None,
          today: dt.date | None = None) -> Reply:
    """Keys pressed on a call (and, after 9, the platform's reference of the recording)."""
    now = now or utcnow()
    call = session.scalar(sa.select(VoiceCall).where(VoiceCall.call_id == call_id)
                          .with_for_update())
    if call is None:
        raise NotFound(Message(_("没有这个通话：请先 POST /api/v1/channels/voice/calls")))
    if call.state == "ended" or call.expires_at <= now:
        call.state = "ended"
        return Reply(_say(EXPIRED), 0)
    call.updated_at, call.expires_at = now, now + IDLE
    digits = digits.strip()
    if call.state == "identify":
        reply = _identify(session, cipher, call, digits, now)
    elif call.state == "message":
        reply = _message(session, cipher, call, digits, recording)
    else:
        reply = _menu(session, call, digits, today or rules.today())
    log.info("voice call %s: %s", call.id, call.state)
    return reply


def _prompt(call: VoiceCall) -> Reply:
    if call.state == "identify":
        return Reply(_say(WELCOME), 4)
    if call.state == "menu":
        return Reply(_say(MENU), 1)
    if call.state == "message":
        return Reply(_say(RECORD), 1)
    return Reply(_say(EXPIRED), 0)


# -- identification ---------------------------------------------------------------------------
def _identify(session: Session, cipher: FieldCipher, call: VoiceCall, digits: str,
              now: dt.datetime) -> Reply:
    person = _person(session, cipher, call, digits, now)
    if person is not None:
        call.subject_id, call.state = person.id, "menu"
        return Reply(_say(MENU), 1)
    call.failures += 1
    if call.failures >= MAX_TRIES:
        call.state = "ended"
        return Reply(_say(GENERAL), 0)
    return Reply(_say(NOT_VERIFIED), 4)


def _person(session: Session, cipher: FieldCipher, call: VoiceCall, digits: str,
            now: dt.datetime) -> Subject | None:
    """The person whose phone on file is the caller's and whose resident ID ends in ``digits``;
    None for a wrong ID, an unknown number and a number whose day's budget is spent alike."""
    last4 = digits.removesuffix("#").replace("*", "X").upper()  # "#" ends the entry on some phones
    if call.phone_index is None or not re.fullmatch(r"\d{3}[\dX]", last4):
        return None
    spent = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(VoiceCall.failures), 0)).where(
        VoiceCall.phone_index == call.phone_index, VoiceCall.started_at >= now - dt.timedelta(days=1)))
    if (spent or 0) >= DAILY_FAILURES:
        return None
    people = session.scalars(sa.select(Subject).where(Subject.phone_index == call.phone_index)
                             .order_by(Subject.id))
    for person in people:
        resident = resident_id_of(cipher, person)
        if resident is not None and resident.upper().endswith(last4):
            return person
    return None


# -- the menu ---------------------------------------------------------------------------------
def _menu(session: Session, call: VoiceCall, digits: str, today: dt.date) -> Reply:
    key = digits[:1]
    if key == "0":
        key = call.last_key or "*"
    if key == "*":
        return Reply(_say(MENU), 1)
    if key == "9":
        call.state = "message"
        return Reply(_say(RECORD), 1)
    if key not in ("1", "2", "3"):
        return Reply(_say(BAD_KEY, MENU), 1)
    call.last_key = key
    summary = _summary(session, call, today)
    if summary is None:
        return Reply(_say(UNAVAILABLE, MENU), 1)
    return Reply(content(summary, key) + _say(AGAIN), 1)


def household_of(session: Session, person_id: int) -> int:
    person = session.get(Subject, person_id)
    return person.household_id if person is not None and person.household_id else person_id


def _summary(session: Session, call: VoiceCall, today: dt.date) -> FarmerSummary | None:
    from ctown.farmer.summary import farmer_summary

    assert call.subject_id is not None
    try:  # actor None: the county's own job, answering the phone on file
        return farmer_summary(session, None, household_of(session, call.subject_id),
                              locale=LOCALE, today=today)
    except DomainError:
        log.warning("voice call %s: no summary", call.id)
        return None


def content(summary: FarmerSummary, key: str) -> str:
    """What keys 1, 2 and 3 say of a household's summary."""
    from ctown.farmer.words import day, yuan

    if key == "1":
        if summary.grade is None:
            return _say(NO_GRADE)
        benefits = "；".join(summary.benefits[:BENEFITS_SAID])
        return _say(GRADE, words=summary.grade_words) + (
            _say(BENEFITS, benefits=benefits) if benefits else _say(NO_BENEFITS))
    if key == "2":
        nxt = summary.next_instalment
        if nxt is None:
            return _say(NO_LOAN)
        said = _say(NEXT, day=day(nxt.due_on, LOCALE), amount=yuan(nxt.amount, LOCALE),
                    product=nxt.product_name)
        return said + (_say(OVERDUE) if nxt.overdue else "")
    tip = (summary.tip or "").rstrip("。.！!")
    return _say(TIP, tip=tip) if tip else _say(NO_TIP)


# -- a message (反馈留言) ------------------------------------------------------------------------
#: The longest recording reference taken (``feedback_items.recording_ref``).
MAX_RECORDING_REF = 200


def _message(session: Session, cipher: FieldCipher, call: VoiceCall, digits: str,
             recording: str | None) -> Reply:
    call.state = "menu"
    if digits.startswith("*") and not recording:
        return Reply(_say(MENU), 1)
    if not recording:
        return Reply(_say(NOT_RECORDED, MENU), 1)
    try:
        leave_message(session, cipher, call, recording[:MAX_RECORDING_REF])
    except DomainError:
        log.warning("voice call %s: the message was refused", call.id)
        return Reply(_say(NO_MESSAGES, MENU), 1)
    return Reply(_say(TAKEN, MENU), 1)


def leave_message(session: Session, cipher: FieldCipher, call: VoiceCall, recording: str) -> str:
    """Hand the recording to the feedback queue (R-6.4) as the household's voice feedback (no
    actor: the county's channel that found the household by the phone on file); its reference."""
    from ctown.feedback.service import submit

    assert call.subject_id is not None
    item = submit(session, None, subject_id=household_of(session, call.subject_id),
                  channel="voice", text=translate(_("语音留言（录音）"), LOCALE),
                  kind="feedback", recording_ref=recording, cipher=cipher)
    call.message_ref = item.ref
    log.info("voice call %s: message left", call.id)
    return item.ref


def fixed_replies() -> list[str]:
    """Every reply that names nobody (the demo warms the cache with them)."""
    return [_say(*parts) for parts in (
        (WELCOME,), (NOT_VERIFIED,), (GENERAL,), (MENU,), (BAD_KEY, MENU), (RECORD,),
        (TAKEN, MENU), (NOT_RECORDED, MENU), (NO_MESSAGES, MENU), (UNAVAILABLE, MENU),
        (EXPIRED,), (NO_GRADE, AGAIN), (NO_LOAN, AGAIN), (NO_TIP, AGAIN))]
