"""Feedback and complaints (反馈与投诉): submit, list, answer, escalate, and the on-time figure.

Every channel lands here: the farmer's page, an SMS ``反馈 …`` (channels), a recorded voice
message (voice) and the village officer writing down what they were told. Each item is routed by
:mod:`ctown.feedback.routing` and must be answered within its deadline (received + 48 h, clock
time); :func:`escalate_overdue`, a scheduled job, moves an unanswered one up when it is late.
The on-time rate (服务响应及时率, the 一效 of 三率一效, target ≥ 98 %) is
:func:`response_timeliness`. Services never commit.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.rules import local_time
from ctown.access.scope import Actor, get_for, get_subject_for, require, scope
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import Conflict, Invalid
from ctown.feedback import routing
from ctown.feedback.access import FEEDBACK, FIGURES
from ctown.feedback.models import CHANNELS, KINDS, Feedback
from ctown.i18n import Message, _, translate
from ctown.notify import service as notify
from ctown.notify.channels import IN_APP, SMS
from ctown.proxy import marks
from ctown.registry.identifiers import division_code_level, division_prefix
from ctown.registry.models import Region

SOURCE = "feedback"
REF_KIND = "feedback"
MAX_TEXT = 2000
#: Channels only the server speaks for (it found the household by the phone on file).
SERVER_CHANNELS = ("sms", "voice")
OFFICERS = (Role.village_officer, Role.township_officer, Role.county_admin)
#: The target of the on-time rate (三率一效: service-response timeliness ≥ 98 %).
TARGET = 0.98

KIND_LABELS = {"feedback": _("意见反馈"), "complaint": _("投诉")}
CHANNEL_LABELS = {"page": _("网页"), "sms": _("短信"), "voice": _("语音留言"),
                  "officer": _("村信息员代记")}
STATUS_LABELS = {"received": _("待答复"), "answered": _("已答复"), "closed": _("已办结")}

NEW_ITEM = _("新的{kind}（编号 {ref}）待您答复，请在 {deadline} 前处理。")
ESCALATED = _("{kind}（编号 {ref}）已超过答复时限（{deadline}）仍未答复，已上报给您处理。")
#: What the household is told by SMS when its proxy passed on feedback (ctown.proxy.marks).
PASSED_ON = _("提交{kind}（编号 {ref}）")
ANSWERED = _("您的反馈（编号 {ref}）已有答复，请登录信用乡平台“我的反馈”查看，或拨打服务电话收听。")


# -- the cipher ------------------------------------------------------------------------------------
_RINGS: dict[Path, FieldCipher] = {}


def cipher_of(session: Session, cipher: FieldCipher | None = None) -> FieldCipher:
    """The field cipher: the one given (the web app's, a test's), else the ring of the settings,
    checked against the database once per process (``privacy.keyring``) — the SMS and voice
    channels call :func:`submit` without one."""
    if cipher is not None:
        return cipher
    from ctown.privacy.keyring import bind
    from ctown.settings import get_settings

    settings = get_settings()
    ring = _RINGS.get(settings.keyring_path)
    if ring is None:
        ring = _RINGS[settings.keyring_path] = bind(session.connection(), settings.keyring_path,
                                                    settings.cipher_suite)
    return ring


def row_aad(column: str, row: Mapping[str, Any] | Feedback) -> str:
    """Associated data of an encrypted column, bound to the row's reference (``ref``); ``row`` a
    stored row (key rotation, ``Capability.encrypted``) or the item."""
    ref = row.ref if isinstance(row, Feedback) else row["ref"]
    return f"feedback_items.{column}:{ref}"


def text_of(item: Feedback, cipher: FieldCipher | None = None, *,
            session: Session | None = None) -> str:
    """The item's text in clear (for whoever may see the row)."""
    ring = cipher if cipher is not None or session is None else cipher_of(session)
    assert ring is not None, "text_of needs a cipher or a session"
    return ring.decrypt(item.text_cipher, row_aad("text_cipher", item))


def answer_of(item: Feedback, cipher: FieldCipher) -> str | None:
    if item.answer_cipher is None:
        return None
    return cipher.decrypt(item.answer_cipher, row_aad("answer_cipher", item))


# -- regions -------------------------------------------------------------------------------------
_LEVELS = routing.LEVELS


def ancestor(code: str, level: str) -> str:
    """The region of ``level`` that holds ``code`` (a village's township: its first 9 digits)."""
    if _LEVELS.index(division_code_level(code)) >= _LEVELS.index(level):
        return code
    return code[:6] + "000000" if level == "county" else code[:9] + "000"


# -- submit --------------------------------------------------------------------------------------
def submit(session: Session, actor: Actor | None, *, subject_id: int | None, channel: str,
           text: str, kind: str = "feedback", region_code: str | None = None,
           recording_ref: str | None = None, cipher: FieldCipher | None = None,
           now: dt.datetime | None = None) -> Feedback:
    """Put an item in the queue, routed, with its deadline; tell whoever must answer it.

    ``actor=None`` is a server channel (SMS, voice) that found the household by the phone on
    file. Without a subject the item is about ``region_code`` (else the actor's region); with
    one, about the household's region. ``cipher`` and ``now`` default to the settings' ring and
    the clock."""
    text = (text or "").strip()
    recording_ref = (recording_ref or "").strip() or None
    _check(actor, channel=channel, kind=kind, text=text, recording_ref=recording_ref)
    require(actor, "feedback", "submit")
    if subject_id is None and actor is not None and actor.role in (Role.farmer,):
        subject_id = actor.subject_id
    origin = _origin(session, actor, subject_id, region_code)
    rules = routing.load()
    step = rules.route(kind, channel)
    received = now or utcnow()
    item = Feedback(ref=secrets.token_hex(6), subject_id=subject_id,
                    submitted_by_id=actor.id if actor is not None else None, channel=channel,
                    kind=kind, recording_ref=recording_ref, origin_region_code=origin,
                    region_code=ancestor(origin, step.level), assigned_role=str(step.role),
                    received_at=received, deadline_at=received + rules.deadline,
                    status="received", escalation_level=0, escalate_at=received + rules.deadline)
    item.text_cipher = cipher_of(session, cipher).encrypt(text, row_aad("text_cipher", item))
    session.add(item)
    session.flush()
    _tell_holders(session, item, NEW_ITEM)
    if actor is not None and actor.role == Role.credit_proxy and subject_id is not None:
        act = translate(PASSED_ON, "zh_Hans", kind=translate(KIND_LABELS[kind], "zh_Hans"),
                        ref=item.ref)
        marks.tell_household(session, actor.id, subject_id, act, (REF_KIND, item.id))
    return item


def _check(actor: Actor | None, *, channel: str, kind: str, text: str,
           recording_ref: str | None) -> None:
    if channel not in CHANNELS:
        raise Invalid(Message(_("反馈渠道 {channel} 无效，应为 page、sms、voice 或 officer 之一"),
                              {"channel": channel}))
    if kind not in KINDS:
        raise Invalid(Message(_("反馈类型 {kind} 无效，应为 feedback（意见反馈）或 complaint（投诉）"),
                              {"kind": kind}))
    if not text and not (channel == "voice" and recording_ref):
        raise Invalid(Message(_("请填写反馈内容")))
    if len(text) > MAX_TEXT:
        raise Invalid(Message(_("反馈内容不能超过 {max} 字（现为 {length} 字），请删减后再提交"),
                              {"max": MAX_TEXT, "length": len(text)}))
    if channel in SERVER_CHANNELS and actor is not None:
        raise Invalid(Message(_("短信和语音渠道的反馈由系统接收，请在网页上提交"), {}))
    if channel == "officer" and (actor is None or actor.role not in OFFICERS):
        raise Invalid(Message(_("只有村信息员和乡镇、县工作人员可以代为记录反馈"), {}))


def _origin(session: Session, actor: Actor | None, subject_id: int | None,
            region_code: str | None) -> str:
    """The region the item comes from: the household's, else the one named, else the actor's."""
    if subject_id is not None:
        subject = get_subject_for(session, actor, subject_id)
        if region_code and region_code != subject.region_code:
            raise Invalid(Message(_("反馈所属地区 {region} 与农户所在地区 {home} 不一致"),
                                  {"region": region_code, "home": subject.region_code}))
        return subject.region_code
    code = region_code or (actor.region_code if actor is not None else None)
    if not code:
        raise Invalid(Message(_("请说明反馈涉及的农户或村"), {}))
    if session.get(Region, code) is None:
        raise Invalid(Message(_("地区代码 {region} 不存在"), {"region": code}))
    if actor is not None and actor.role in OFFICERS and not code.startswith(
            division_prefix(actor.region_code)):
        raise Invalid(Message(_("地区 {region} 不在您负责的范围内"), {"region": code}))
    return code


def _tell_holders(session: Session, item: Feedback, msgid: str) -> None:
    """An in-app notice to every active user of the assigned role in the item's region."""
    users = session.scalars(sa.select(User.id).where(
        User.role == item.assigned_role, User.region_code == item.region_code,
        User.is_active.is_(True)))
    params = {"kind": KIND_LABELS[item.kind], "ref": item.ref,
              "deadline": f"{local_time(item.deadline_at):%Y-%m-%d %H:%M}"}
    notify.queue_many(session, [
        {"channel": IN_APP, "user_id": uid, "subject_id": None, "source": SOURCE,
         "ref_kind": REF_KIND, "ref_id": item.id, "msgid": msgid, "params": params}
        for uid in users])


# -- reading -------------------------------------------------------------------------------------
def get_feedback_for(session: Session, actor: Actor | None, feedback_id: int,
                     purpose: str = "view") -> Feedback:
    """An item the actor may see (or answer), else "not found" (the denial logged)."""
    item: Feedback = get_for(session, actor, FEEDBACK, feedback_id, purpose)
    return item


def queue_for(session: Session, actor: Actor | None, *, status: str | None = None,
              overdue_only: bool = False, now: dt.datetime | None = None,
              limit: int = 200) -> list[Feedback]:
    """The items the actor reaches: the officers' queue, the household's own list. Unanswered
    first, the most urgent deadline first."""
    require(actor, "feedback", "view")
    stmt = scope(sa.select(Feedback), actor, FEEDBACK)
    if status is not None:
        stmt = stmt.where(Feedback.status == status)
    if overdue_only:
        stmt = stmt.where(Feedback.status == "received", Feedback.deadline_at < (now or utcnow()))
    order = sa.case((Feedback.status == "received", 0), else_=1)
    return list(session.scalars(stmt.order_by(order, Feedback.deadline_at, Feedback.id)
                                .limit(limit)))


def is_overdue(item: Feedback, now: dt.datetime | None = None) -> bool:
    """Past its deadline and not answered (answered late is "late", not overdue)."""
    return item.answered_at is None and (now or utcnow()) > item.deadline_at


def answered_late(item: Feedback) -> bool:
    return item.answered_at is not None and item.answered_at > item.deadline_at


def may_answer(session: Session, actor: Actor | None, item: Feedback) -> bool:
    """Does the actor reach this item to answer it (no denial logged: a page asks)?"""
    from ctown.access.scope import reaches_row

    return item.status == "received" and reaches_row(session, actor, FEEDBACK, item.id, "answer")


def require_answerer(actor: Actor | None) -> None:
    """The officers' queue: 403 for anyone who answers no feedback."""
    require(actor, "feedback", "answer")


def open_counts(session: Session, actor: Actor | None, households: list[int]) -> dict[int, int]:
    """Unanswered items per household (a household's members' items count to it), over what
    the actor reaches: the proxy's home."""
    from ctown.registry.models import Subject

    if not households:
        return {}
    owner = sa.func.coalesce(Subject.household_id, Subject.id)
    stmt = scope(sa.select(owner, sa.func.count()).select_from(Feedback)
                 .join(Subject, Subject.id == Feedback.subject_id), actor, FEEDBACK).where(
        Feedback.status == "received", owner.in_(households)).group_by(owner)
    return {int(h): int(n) for h, n in session.execute(stmt)}


def household_by_no(session: Session, actor: Actor | None, household_no: str) -> int:
    """The household of this number (户号) that the actor reaches, else "not found"."""
    from ctown.access.scope import scope_subjects
    from ctown.errors import NotFound
    from ctown.registry.models import Subject

    no = household_no.strip()
    stmt = sa.select(Subject.id).where(Subject.household_no == no)
    found = (session.scalar(scope_subjects(stmt, actor) if actor is not None else stmt)
             if no.isprintable() and len(no) <= 40 else None)  # a NUL: no household's number
    if found is None:
        raise NotFound(Message(_("找不到户号 {no} 的农户"), {"no": household_no.strip()}))
    return int(found)


# -- answering -----------------------------------------------------------------------------------
def answer(session: Session, actor: Actor | None, feedback_id: int, text: str, *,
           cipher: FieldCipher | None = None, now: dt.datetime | None = None) -> Feedback:
    """Answer an item (who answered, when) and tell the sender: in-app when they wrote it on the
    page, by SMS to the household when it came by SMS, voice or the village officer."""
    require(actor, "feedback", "answer")
    item = get_feedback_for(session, actor, feedback_id, "answer")
    text = (text or "").strip()
    if not text:
        raise Invalid(Message(_("答复不能为空")))
    if len(text) > MAX_TEXT:
        raise Invalid(Message(_("答复不能超过 {max} 字（现为 {length} 字）"),
                              {"max": MAX_TEXT, "length": len(text)}))
    if item.status != "received":
        raise Conflict(Message(_("该反馈已答复过（编号 {ref}）"), {"ref": item.ref}))
    item.answer_cipher = cipher_of(session, cipher).encrypt(text, row_aad("answer_cipher", item))
    item.status, item.answered_at = "answered", now or utcnow()
    item.answered_by_id = actor.id if actor is not None else None
    item.escalate_at = None
    _tell_sender(session, item)
    session.flush()
    return item


def _tell_sender(session: Session, item: Feedback) -> None:
    # The answer itself stays out of the notice: the outbox keeps its parameters in clear.
    params = {"ref": item.ref}
    if item.channel == "page" and item.submitted_by_id is not None:
        notify.queue(session, channel=IN_APP, msgid=ANSWERED, source=SOURCE,
                     user_id=item.submitted_by_id, ref_kind=REF_KIND, ref_id=item.id,
                     params=params)
    elif item.subject_id is not None:
        notify.queue(session, channel=SMS, msgid=ANSWERED, source=SOURCE,
                     subject_id=item.subject_id, ref_kind=REF_KIND, ref_id=item.id,
                     params=params)


def close(session: Session, actor: Actor | None, feedback_id: int,
          now: dt.datetime | None = None) -> Feedback:
    """Close an answered item (办结)."""
    require(actor, "feedback", "answer")
    item = get_feedback_for(session, actor, feedback_id, "answer")
    if item.status != "answered":
        raise Conflict(Message(_("只有已答复的反馈才能办结（编号 {ref}）"), {"ref": item.ref}))
    item.status, item.closed_at = "closed", now or utcnow()
    session.flush()
    return item


# -- escalation (the job) ------------------------------------------------------------------------
def escalate_overdue(session: Session, now: dt.datetime | None = None) -> list[Feedback]:
    """Move every unanswered item whose time is up one step up the ladder (the county's job:
    ``ctown feedback escalate``, every 15 minutes); the items moved. An item at the top stays
    there, flagged overdue."""
    now = now or utcnow()
    rules = routing.load()
    due = list(session.scalars(sa.select(Feedback).where(
        Feedback.status == "received", Feedback.escalate_at <= now)
        .order_by(Feedback.escalate_at, Feedback.id).with_for_update(skip_locked=True)))
    moved = []
    for item in due:
        step = rules.next_step(division_code_level(item.region_code))
        if step is None:
            item.escalate_at = None
            continue
        moved.append(item)
        item.region_code = ancestor(item.origin_region_code, step.level)
        item.assigned_role = str(step.role)
        item.escalation_level += 1
        item.escalated_at = now
        item.escalate_at = (now + rules.escalate_every
                            if rules.next_step(step.level) is not None else None)
        _tell_holders(session, item, ESCALATED)
    session.flush()
    return moved


# -- the figure ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Timeliness:
    answered_on_time: int
    due: int

    @property
    def rate(self) -> float | None:
        return self.answered_on_time / self.due if self.due else None


def response_timeliness(session: Session, actor: Actor | None, region_code: str | None,
                        since: dt.datetime, until: dt.datetime, now: dt.datetime | None = None
                        ) -> tuple[int, int, float | None]:
    """服务响应及时率: (answered on time, due, rate) of the items whose deadline falls in
    [since, until) and whose outcome is known — the deadline has passed, or it was answered
    (an early answer counts at once; an open item not yet due counts nowhere). Items are counted
    where they come from (``region_code``: that region and every region inside it), over the
    rows the actor reaches for the figure. The rate is None when nothing was due."""
    require(actor, "feedback_figures", "view")
    now = now or utcnow()
    stmt = scope(sa.select(
        sa.func.count(sa.case((Feedback.answered_at <= Feedback.deadline_at, 1))),
        sa.func.count()).select_from(Feedback), actor, FIGURES).where(
        Feedback.deadline_at >= since, Feedback.deadline_at < until,
        sa.or_(Feedback.deadline_at <= now, Feedback.answered_at.is_not(None)))
    if region_code:
        stmt = stmt.where(Feedback.origin_region_code.startswith(division_prefix(region_code),
                                                                 autoescape=True))
    on_time, due = session.execute(stmt).one()
    figure = Timeliness(int(on_time), int(due))
    return figure.answered_on_time, figure.due, figure.rate


# -- as pages show them --------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """An item as the queue and the farmer's list show it: its words in clear, the household
    named as the viewer may see it, whether it is overdue or was answered late."""

    item: Feedback
    text: str
    answer: str | None
    household: str | None
    overdue: bool
    late: bool
    #: The proxy who passed it on ("由代理员 X 代办"), else None.
    by_proxy: str | None = None

    @property
    def urgent(self) -> bool:
        return self.overdue or self.item.escalation_level > 0


def rows(session: Session, actor: Actor | None, cipher: FieldCipher, items: list[Feedback],
         now: dt.datetime | None = None) -> list[Row]:
    """The items with their text decrypted and their households named (one query for names)."""
    from ctown import masking
    from ctown.access.scope import is_own_household
    from ctown.registry.models import Subject

    ids = {i.subject_id for i in items if i.subject_id is not None}
    subjects = {s.id: s for s in session.scalars(sa.select(Subject).where(Subject.id.in_(ids)))}
    senders = {i.submitted_by_id for i in items if i.submitted_by_id is not None}
    proxies = {uid: name for uid, name in session.execute(sa.select(User.id, User.display_name)
                                                           .where(User.id.in_(senders),
                                                                  User.role == Role.credit_proxy))
               } if senders else {}
    now = now or utcnow()

    def name(subject_id: int | None) -> str | None:
        subject = subjects.get(subject_id) if subject_id is not None else None
        if subject is None:
            return None
        clear = masking.identity(actor.role if actor else None,
                                 own=is_own_household(actor, subject)).names
        return subject.name if clear else masking.mask_name(subject.name)

    return [Row(i, text_of(i, cipher), answer_of(i, cipher), name(i.subject_id),
                is_overdue(i, now), answered_late(i),
                proxies.get(i.submitted_by_id) if i.submitted_by_id is not None else None)
            for i in items]
