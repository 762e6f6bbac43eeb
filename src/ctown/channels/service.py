"""Inbound SMS (短信上行): one message from the gateway, answered once, to the phone on file.

:func:`handle` is the webhook's whole work once the signature holds (``channels.api``):

1. the gateway's message id seen before → the same reply, nothing queued (gateways resend);
2. the number normalised (``+86 138-1234-5678`` → ``13812345678``) and looked up by its blind
   index among the persons on file; a number on file for exactly one household identifies it,
   any other (unknown, or shared by several households) is answered with help and nothing
   personal;
3. at most :data:`PER_NUMBER` messages per number per :data:`WINDOW` and :data:`PER_DAY` a day
   (settings: :class:`Limits`) are answered by SMS; past that the webhook still answers, but
   nothing is sent (an SMS costs the county money, and a loop between two gateways would cost
   it a lot);
4. the reply, at most 70 characters, queued to the number that wrote — which, when it is
   identified, is the phone on file — through the outbox, encrypted in the row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.channels.models import InboundSms
from ctown.channels.sms import Command, Parsed, fit, parse
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import DomainError, Invalid
from ctown.i18n import Message, _, translate
from ctown.notify import optout
from ctown.notify import service as notify
from ctown.notify.address import PHONE_PURPOSE, normalise_phone
from ctown.notify.channels import SMS
from ctown.registry.models import Subject

SOURCE = "channels"
REPLY = "sms_reply"
WINDOW = dt.timedelta(minutes=10)
PER_NUMBER = 5
PER_DAY = 20
MESSAGE_ID_MAX = 64

#: The outbox row carries the reply already rendered (a reply is the answer of one moment).
REPLY_MSGID = "{text}"

HELP = _("信用乡短信：回CX查等级，ED查额度，HK查还款，FK加内容提反馈，TD退订。")
UNKNOWN = _("本号码未在信用乡登记，查不到信息。请带身份证到村信用信息员处登记手机号。")
LIMITED = _("发送太频繁，请10分钟后再试。")
OPTED_OUT = _("已退订信用乡通知短信。负面信息告知、逾期提醒等依法必发的仍会发送。回DY重新订阅。")
OPTED_IN = _("已重新订阅信用乡通知短信。回TD可退订。")
NO_TEXT = _("请在FK后写上您要反馈的内容，例如：FK 贷款到账慢")
FEEDBACK_TAKEN = _("已收到您的{kind}（编号{ref}），48小时内答复。")
FEEDBACK_FAILED = _("反馈未能提交：{why}")
KIND_WORDS = {"feedback": _("反馈"), "complaint": _("投诉")}
NOT_RATED = _("{name}：还没有信用等级。")
GRADE = _("{name}：{words}。")
CREDIT = _("{name}：授信额度最高{amount}。")
NO_CREDIT = _("{name}：暂无可用额度。")
REPAY = _("{name}：{day}应还{amount}（{product}）。")
OVERDUE = _("{name}：{product}已逾期，{day}起应还{amount}，请尽快还款。")
NO_LOAN = _("{name}：目前没有待还的贷款。")
HINT_CREDIT = _("回ED查额度")
HINT_HELP = _("回BZ看帮助")


@dataclass(frozen=True)
class Inbound:
    """What the gateway posted, checked: its message id, the number, the text."""

    message_id: str
    sender: str
    text: str

    @classmethod
    def of(cls, body: object) -> Inbound:
        """From the parsed JSON body; a bad one is :class:`~ctown.errors.Invalid` (400)."""
        if not isinstance(body, Mapping):
            raise Invalid(Message(_("请求体应为含 id、from、text 三个字段的 JSON 对象")))
        values = {k: body.get(k) for k in ("id", "from", "text")}
        missing = [k for k, v in values.items() if not isinstance(v, str)]
        if missing:
            raise Invalid(Message(_("缺少字段或不是字符串：{fields}"),
                                  {"fields": ", ".join(missing)}))
        message_id = str(values["id"]).strip()
        if not message_id or len(message_id) > MESSAGE_ID_MAX or not message_id.isprintable():
            raise Invalid(Message(_("id 应为 1 到 {max} 个可打印字符"), {"max": MESSAGE_ID_MAX}))
        return cls(message_id, str(values["from"]), str(values["text"]))


def reply_aad(column: str, row: Mapping[str, Any] | InboundSms) -> str:
    """Associated data of a stored reply, bound to the gateway's message id (key rotation)."""
    message_id = row.message_id if isinstance(row, InboundSms) else row["message_id"]
    return f"channels_sms_inbound.{column}:{message_id}"


@dataclass(frozen=True)
class Limits:
    """Replies per number (``CTOWN_SMS_REPLIES_PER_10_MINUTES``, ``…_PER_DAY``)."""

    per_window: int = PER_NUMBER
    per_day: int = PER_DAY


def handle(session: Session, cipher: FieldCipher, inbound: Inbound, *,
           limits: Limits = Limits(), now: dt.datetime | None = None,
           today: dt.date | None = None) -> str:
    """Answer one inbound message (the same answer for the same message id, queued once)."""
    now = now or utcnow()
    seen = _seen(session, cipher, inbound.message_id)
    if seen is not None:
        return seen
    phone = normalise_phone(inbound.sender)
    if phone is None:
        raise Invalid(Message(_("from 不是有效的手机号：{value}"), {"value": "***"}))
    number = cipher.blind_index(phone, PHONE_PURPOSE)
    parsed = parse(inbound.text)
    limited = _limited(session, number, now, limits)
    # The limit caps what we *send*; what the farmer asks us to *do* is never lost to it: an
    # opt-out must always take effect, and feedback is recorded (only its reply is not sent).
    acts = parsed.command in ACTS
    household = None if limited and not acts else _household_of(session, number)
    try:
        with session.begin_nested():
            row = InboundSms(message_id=inbound.message_id, phone_index=number,
                             subject_id=household, reply_cipher="", received_at=now,
                             command="limited" if limited and not acts else parsed.command.value)
            session.add(row)
            session.flush()  # a concurrent first copy of this id fails here, not after the SMS
            reply = _answer(session, cipher, parsed, number, household, today) \
                if acts or not limited else ""
            reply = translate(LIMITED) if limited else reply
            row.reply_cipher = cipher.encrypt(reply, reply_aad("reply_cipher", row))
            if not limited:
                row.outbox_id = notify.queue(
                    session, channel=SMS, msgid=REPLY_MSGID, params={"text": reply},
                    source=SOURCE, subject_id=household, ref_kind=REPLY, ref_id=row.id,
                    address=phone, cipher=cipher)
            session.flush()
    except IntegrityError:
        again = _seen(session, cipher, inbound.message_id)
        if again is None:
            raise
        return again
    return reply


#: Commands that change something (opt out or in, file feedback or a complaint): carried out even
#: when the number's replies are rate-limited.
ACTS = frozenset({Command.opt_out, Command.opt_in, Command.feedback, Command.complaint})


def _seen(session: Session, cipher: FieldCipher, message_id: str) -> str | None:
    row = session.scalar(sa.select(InboundSms).where(InboundSms.message_id == message_id))
    if row is None or not row.reply_cipher:
        return None
    return cipher.decrypt(row.reply_cipher, reply_aad("reply_cipher", row))


def _limited(session: Session, number: str, now: dt.datetime, limits: Limits) -> bool:
    window, day = session.execute(sa.select(
        sa.func.count(sa.case((InboundSms.received_at > now - WINDOW, 1))),
        sa.func.count()).where(InboundSms.phone_index == number,
                               InboundSms.outbox_id.is_not(None),
                               InboundSms.received_at > now - dt.timedelta(days=1))).one()
    return int(window) >= limits.per_window or int(day) >= limits.per_day


def _household_of(session: Session, number: str) -> int | None:
    """The one household (or entity) the number is on file for; None for none or several."""
    rows = session.execute(sa.select(Subject.id, Subject.household_id)
                           .where(Subject.phone_index == number)).all()
    found = {household or sid for sid, household in rows}
    return found.pop() if len(found) == 1 else None


def _answer(session: Session, cipher: FieldCipher, parsed: Parsed, number: str,
            household: int | None, today: dt.date | None) -> str:
    command = parsed.command
    if command is Command.opt_out:
        optout.opt_out(session, number)
        return translate(OPTED_OUT)
    if command is Command.opt_in:
        optout.opt_in(session, number)
        return translate(OPTED_IN)
    if household is None:
        return translate(UNKNOWN) if command is not Command.help else translate(HELP)
    if command in (Command.feedback, Command.complaint):
        return _feedback(session, cipher, household, parsed)
    if command in (Command.grade, Command.credit, Command.repay):
        from ctown.farmer.summary import farmer_summary

        summary = farmer_summary(session, None, household, today=today or rules.today())
        return reply_for(command, summary)
    return translate(HELP)


def reply_for(command: Command, summary: Any) -> str:
    """The reply to CX / ED / HK from a :class:`ctown.farmer.summary.FarmerSummary`."""
    from ctown.farmer.words import day, yuan

    name = summary.name_masked
    if command is Command.grade:
        if summary.grade is None:
            return fit(translate(NOT_RATED, name=name), [summary.tip or "", translate(HINT_HELP)])
        return fit(translate(GRADE, name=name, words=summary.grade_words),
                   [_sentence(summary.tip), translate(HINT_CREDIT)])
    if command is Command.credit:
        if summary.limit is None:
            return fit(translate(NO_CREDIT, name=name), [_sentence(summary.tip)])
        return fit(translate(CREDIT, name=name, amount=yuan(summary.limit)),
                   [_sentence(b) for b in summary.benefits[:1]])
    nxt = summary.next_instalment
    if nxt is None:
        return fit(translate(NO_LOAN, name=name))
    msgid = OVERDUE if nxt.overdue else REPAY
    return fit(translate(msgid, name=name, day=day(nxt.due_on), amount=yuan(nxt.amount),
                         product=nxt.product_name))


def _sentence(text: str | None) -> str:
    return f"{text.rstrip('。')}。" if text else ""


def _feedback(session: Session, cipher: FieldCipher, household: int, parsed: Parsed) -> str:
    if not parsed.rest:
        return translate(NO_TEXT)
    from ctown.feedback import service as feedback

    kind = "complaint" if parsed.command is Command.complaint else "feedback"
    try:
        with session.begin_nested():
            item = feedback.submit(session, None, subject_id=household, channel="sms",
                                   text=parsed.rest, kind=kind, cipher=cipher)
    except DomainError as exc:
        return fit(translate(FEEDBACK_FAILED, why=exc.message.render(None)))
    return fit(translate(FEEDBACK_TAKEN, kind=translate(KIND_WORDS[kind]), ref=item.ref))
