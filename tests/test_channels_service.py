"""Inbound SMS on both databases: every command, help for anything else, nothing personal for an
unknown number, replayed ids answered once, the per-number limit, opt-out respected by the
sender, feedback by SMS; and the outbox's own addresses."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import build_county
from tests.test_channels_sms import Gateway, serve_gateway

from ctown.accounts.models import User
from ctown.channels import service
from ctown.channels.models import InboundSms
from ctown.channels.service import Inbound
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.errors import Invalid
from ctown.notify import tasks
from ctown.notify.channels import MemoryBackend, Notifier, Outgoing
from ctown.notify.models import Notification
from ctown.notify.outbox import rows as outbox_rows

HEAD = "13800000000"  # the test county's first household head (factories.people_frame)
UNKNOWN = "13912345678"


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return FieldCipher.load(tmp_path / "keys.json")


@pytest.fixture
def county(session: Session, cipher: FieldCipher) -> dict[str, User]:
    return dict(build_county(session, cipher).users)


def _send(session: Session, cipher: FieldCipher, text: str, sender: str = HEAD,
          mid: str | None = None, now: dt.datetime | None = None) -> str:
    mid = mid or f"m-{text}-{sender}-{utcnow().timestamp()}"
    return service.handle(session, cipher, Inbound(mid, sender, text), now=now)


class Recorder(MemoryBackend):
    """Keeps what went out with the number it went to (decrypted as a gateway would)."""

    def __init__(self, cipher: FieldCipher) -> None:
        super().__init__()
        self.cipher = cipher
        self.to: list[tuple[int, str | None, str]] = []

    def send(self, notice: Outgoing) -> None:
        self.to.append((notice.id, notice.address(self.cipher), notice.text()))


def _deliver(session: Session, cipher: FieldCipher) -> Recorder:
    backend = Recorder(cipher)
    tasks.deliver(session, Notifier({"sms": backend, "in_app": MemoryBackend()}))
    return backend


def _queued(session: Session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Notification)) or 0


def test_help_and_unknown_text(session: Session, cipher: FieldCipher, county: object) -> None:
    help_text = "信用乡短信：回CX查等级，ED查额度，HK查还款，FK加内容提反馈，TD退订。"
    assert _send(session, cipher, "帮助") == help_text
    assert _send(session, cipher, " bz ") == help_text
    assert _send(session, cipher, "你好，我想问一下") == help_text
    assert _send(session, cipher, "CXY") == help_text  # not CX
    assert _send(session, cipher, "") == help_text


def test_grade_credit_repay_for_the_phone_on_file(session: Session, cipher: FieldCipher,
                                                  county: object) -> None:
    assert _send(session, cipher, "查询") == "张*：还没有信用等级。回BZ看帮助"
    assert _send(session, cipher, "ＣＸ 谢谢") == "张*：还没有信用等级。回BZ看帮助"
    assert _send(session, cipher, "HK") == "张*：目前没有待还的贷款。"
    credit = _send(session, cipher, "额度")
    assert credit.startswith("张*：") and len(credit) <= 70
    assert "13800000000" not in credit and "330521" not in credit


def test_an_unknown_number_gets_help_and_nothing_personal(session: Session, cipher: FieldCipher,
                                                          county: object) -> None:
    unknown = "本号码未在信用乡登记，查不到信息。请带身份证到村信用信息员处登记手机号。"
    for text in ("CX", "额度", "HK", "反馈 水管坏了"):
        assert _send(session, cipher, text, sender=UNKNOWN) == unknown
    sent = _deliver(session, cipher)
    assert [(to, text) for _i, to, text in sent.to] == [(UNKNOWN, unknown)] * 4
    rows = session.scalars(sa.select(InboundSms).where(InboundSms.subject_id.is_(None))).all()
    assert len(rows) == 4


def test_the_reply_goes_to_the_number_that_wrote_in_any_spelling(
        session: Session, cipher: FieldCipher, county: object) -> None:
    for spelling in ("+86 138-0000-0000", "0086 13800000000", "１３８００００００００"):
        assert _send(session, cipher, "HK", sender=spelling) == "张*：目前没有待还的贷款。"
    sent = _deliver(session, cipher)
    assert [to for _i, to, _t in sent.to] == [HEAD] * 3


def test_a_bad_number_or_body_is_refused_and_queues_nothing(session: Session, cipher: FieldCipher,
                                                            county: object) -> None:
    before = _queued(session)
    with pytest.raises(Invalid):
        _send(session, cipher, "CX", sender="not a number")
    for body in ([], {"id": "x"}, {"id": 1, "from": HEAD, "text": "CX"},
                 {"id": "x" * 65, "from": HEAD, "text": "CX"}, "CX"):
        with pytest.raises(Invalid):
            Inbound.of(body)
    assert _queued(session) == before


def test_the_same_id_again_gets_the_same_reply_and_nothing_more(
        session: Session, cipher: FieldCipher, county: object) -> None:
    first = _send(session, cipher, "HK", mid="gw-1")
    queued = _queued(session)
    assert _send(session, cipher, "CX", mid="gw-1") == first  # the stored reply, not a new one
    assert _send(session, cipher, "HK", sender=UNKNOWN, mid="gw-1") == first
    assert _queued(session) == queued


def test_the_per_number_limit(session: Session, cipher: FieldCipher, county: object) -> None:
    start = utcnow()
    answers = [_send(session, cipher, "HK", now=start + dt.timedelta(seconds=i))
               for i in range(7)]
    limited = "发送太频繁，请10分钟后再试。"
    assert answers[:5] == ["张*：目前没有待还的贷款。"] * 5 and answers[5:] == [limited] * 2
    assert _send(session, cipher, "HK", sender=UNKNOWN, now=start) != limited  # per number
    assert len(_deliver(session, cipher).to) == 6  # the limited ones were not sent
    later = start + service.WINDOW + dt.timedelta(seconds=10)
    assert _send(session, cipher, "HK", now=later) == "张*：目前没有待还的贷款。"


def test_a_limited_number_is_still_heard_opt_out_and_feedback_take_effect(
        session: Session, cipher: FieldCipher, county: dict[str, User]) -> None:
    """The limit caps the replies sent, not what the farmer asks for: an opt-out sent after the
    fifth message still stops the notices, and feedback is still filed (neither reply is sent)."""
    from ctown.feedback.models import Feedback
    from ctown.feedback.service import text_of
    from ctown.notify.address import PHONE_PURPOSE
    from ctown.notify.optout import opted_out

    start = utcnow()
    for i in range(5):
        _send(session, cipher, "HK", now=start + dt.timedelta(seconds=i))
    replies = sa.select(sa.func.count()).select_from(Notification).where(
        Notification.source == service.SOURCE)
    queued = session.scalar(replies)
    limited = "发送太频繁，请10分钟后再试。"
    assert _send(session, cipher, "反馈 水渠堵了", now=start + dt.timedelta(seconds=6)) == limited
    assert _send(session, cipher, "退订", now=start + dt.timedelta(seconds=7)) == limited
    item = session.scalars(sa.select(Feedback).order_by(Feedback.id.desc())).first()
    assert item is not None and text_of(item, cipher) == "水渠堵了"
    assert item.subject_id == county["farmer"].subject_id
    number = cipher.blind_index(HEAD, PHONE_PURPOSE)
    assert opted_out(session, [number]) == {number}
    assert session.scalar(replies) == queued == 5  # no reply sent for either


def _lending_notice(session: Session, subject_id: int, **extra: object) -> int:
    from ctown.notify import service as notify

    return notify.queue(session, channel="sms", msgid="您的贷款申请 {no} 已受理，将在 3 个工作日内完成审批",
                        params={"no": 1}, source="lending", subject_id=subject_id, **extra)


def test_opt_out_stops_what_may_be_declined_and_not_what_the_law_requires(
        session: Session, cipher: FieldCipher, county: dict[str, User]) -> None:
    from ctown.notify import service as notify
    from ctown.notify.status import counts

    household = county["farmer"].subject_id
    assert household is not None
    optout_reply = _send(session, cipher, "退订")
    assert optout_reply == ("已退订信用乡通知短信。负面信息告知、逾期提醒等依法必发的仍会发送。"
                            "回DY重新订阅。")
    _deliver(session, cipher)
    decision = _lending_notice(session, household, ref_kind="loan_application", ref_id=1)
    negative = notify.queue(session, channel="sms", msgid="负面信息 {x}", params={"x": 1},
                            source="privacy", subject_id=household, ref_kind="negative_notice",
                            ref_id=1)
    overdue = _lending_notice(session, household)  # no application reference: overdue notices
    sent = _deliver(session, cipher)
    assert sorted(i for i, _to, _t in sent.to) == sorted([negative, overdue])
    assert all(to == HEAD for _i, to, _t in sent.to)  # the household's head's phone on file
    status = {r["id"]: r["status"] for r in outbox_rows(session, cipher, limit=10)}
    assert status[decision] == "opted_out"
    assert tasks.retry_failed(session) == 0  # what was declined stays declined
    assert counts(session)["notify.opted_out"] >= 1
    # Opting in again: the next one goes.
    assert _send(session, cipher, "订阅") == "已重新订阅信用乡通知短信。回TD可退订。"
    again = _lending_notice(session, household, ref_kind="loan_application", ref_id=2)
    assert again in [i for i, _to, _t in _deliver(session, cipher).to]


def test_feedback_by_sms(session: Session, cipher: FieldCipher, county: dict[str, User]) -> None:
    from ctown.feedback.models import Feedback
    from ctown.feedback.service import text_of

    reply = _send(session, cipher, "反馈 村口的路灯坏了")
    assert reply.startswith("已收到您的反馈（编号") and reply.endswith("48小时内答复。")
    item = session.scalars(sa.select(Feedback).order_by(Feedback.id.desc())).first()
    assert item is not None and item.channel == "sms"
    assert item.subject_id == county["farmer"].subject_id
    assert text_of(item, cipher) == "村口的路灯坏了"
    assert _send(session, cipher, "FK") == "请在FK后写上您要反馈的内容，例如：FK 贷款到账慢"
    assert _send(session, cipher, "投诉 放款太慢").startswith("已收到您的投诉（编号")


def test_outbox_rows_mask_the_number(session: Session, cipher: FieldCipher,
                                     county: object) -> None:
    _send(session, cipher, "BZ", sender=UNKNOWN)
    _send(session, cipher, "BZ")
    found = list(outbox_rows(session, cipher, limit=2))
    assert [r["to"] for r in found] == ["139****5678", "138****0000"]
    assert [r["status"] for r in found] == ["queued", "queued"]
    assert {"id", "channel", "to", "text", "status"} <= set(found[0])
    assert UNKNOWN not in json.dumps(found) and HEAD not in json.dumps(found)
    # The address is encrypted in the row, bound to it.
    stored = session.scalar(sa.select(Notification.address_cipher).where(
        Notification.id == found[0]["id"]))
    assert stored and UNKNOWN not in stored


def test_the_demo_gives_the_head_a_phone_and_texts_the_county(session: Session,
                                                             tmp_path: Path) -> None:
    from ctown.capabilities import DemoContext
    from ctown.channels import demo
    from ctown.channels.status import counts
    from ctown.registry.models import Subject
    from ctown.settings import get_settings

    settings = get_settings(var_dir=tmp_path)
    county = build_county(session, FieldCipher.load(settings.keyring_path), households=2)
    home = county.users["farmer"].subject_id
    # A head without a phone on file gets the demo's number.
    session.execute(sa.update(Subject).where(Subject.household_id == home)
                    .values(phone_cipher=None, phone_index=None))
    ctx = DemoContext.of(settings, tmp_path / "work", county.users.values())
    for _ in range(2):
        demo.build(session, ctx)
    assert counts(session)["channels.sms_inbound"] == 3  # built once
    found = list(outbox_rows(session, ctx.cipher, limit=3))
    assert [r["to"] for r in found] == ["139****0001", "139****0001", "130****0000"]
    assert found[0]["text"] == "张*：还没有信用等级。回BZ看帮助"
    assert found[2]["text"].startswith("本号码未在信用乡登记")


def _loan(session: Session, subject_id: int, due: dt.date, *, paid: str = "0") -> int:
    from decimal import Decimal

    from ctown.lending.models import Instalment, Loan

    loan = Loan(contract_no=f"T-{due}-{paid}", subject_id=subject_id, product_code="rcb_credit",
                product_kind="credit", bank_code="RCB", village_code="330521100201",
                principal=Decimal("10000"), rate_pct=Decimal("4.35"), term_months=12,
                method="equal", disbursed_on=due - dt.timedelta(days=30),
                outstanding=Decimal("10000"))
    session.add(loan)
    session.flush()
    inst = Instalment(loan_id=loan.id, number=1, due_on=due, principal=Decimal("800"),
                      interest=Decimal("36.25"), paid=Decimal(paid))
    session.add(inst)
    session.flush()
    return inst.id


def test_instalment_reminders_once_and_opt_out(session: Session, cipher: FieldCipher,
                                               county: dict[str, User]) -> None:
    from ctown.channels.reminders import queue_due

    household = county["farmer"].subject_id
    assert household is not None
    today = dt.date(2030, 3, 1)
    due = _loan(session, household, dt.date(2030, 3, 4))
    _loan(session, household, dt.date(2030, 3, 4), paid="836.25")  # paid: no reminder
    _loan(session, household, dt.date(2030, 3, 5))  # not yet
    assert queue_due(session, today) == 1
    assert queue_due(session, today) == 0  # once
    sent = _deliver(session, cipher)
    [(notice_id, to, text)] = sent.to
    assert to == HEAD
    assert text == "信用乡提醒：信用贷（纯信用）2030年3月4日应还836.25元，请按时还款。回TD退订"
    row = session.get(Notification, notice_id)
    assert row is not None and (row.ref_kind, row.ref_id) == ("reminder", due)
    _send(session, cipher, "TD")
    _deliver(session, cipher)
    assert queue_due(session, dt.date(2030, 3, 2)) == 1
    assert _deliver(session, cipher).to == []  # declined: the number opted out


def test_two_copies_of_one_message_at_once_are_answered_once(db_factory, tmp_path: Path  # type: ignore[no-untyped-def]
                                                             ) -> None:
    import threading

    from ctown.db import make_engine, session_factory
    from ctown.notify.service import _PENDING_KEY

    engine = make_engine(db_factory.migrated_url())
    cipher = FieldCipher.load(tmp_path / "keys.json")
    factory = session_factory(engine)
    with factory.begin() as session:
        build_county(session, cipher, households=1)
    replies: list[str] = []
    barrier = threading.Barrier(2)

    def one() -> None:
        with factory() as session:
            barrier.wait()
            with session.begin():
                replies.append(service.handle(session, cipher, Inbound("twin-1", HEAD, "HK")))
                session.info.pop(_PENDING_KEY, None)  # no sender here: the rows wait

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert replies == ["张*：目前没有待还的贷款。"] * 2
    with factory() as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1
        assert session.scalar(sa.select(sa.func.count()).select_from(InboundSms)) == 1
    engine.dispose()



def test_key_rotation_covers_the_outbox_address_and_the_kept_reply(db_factory, tmp_path: Path  # type: ignore[no-untyped-def]
                                                                   ) -> None:
    from ctown.db import make_engine, session_factory
    from ctown.notify.service import _PENDING_KEY
    from ctown.privacy import rotation

    engine = make_engine(db_factory.migrated_url())
    factory = session_factory(engine)
    keyring = tmp_path / "keys.json"
    cipher = FieldCipher.load(keyring)
    with factory.begin() as session:
        build_county(session, cipher, households=1)
        service.handle(session, cipher, Inbound("rot-1", UNKNOWN, "CX"))
        session.info.pop(_PENDING_KEY, None)
    assert rotation.rotate(factory, cipher).complete
    with factory.begin() as session:
        assert rotation.retire_unused(session, cipher) == [1]
    final = FieldCipher.load(keyring)
    with factory() as session:
        [row] = list(outbox_rows(session, final, limit=1))
        assert row["to"] == "139****5678"
        token = session.scalar(sa.select(Notification.address_cipher).where(
            Notification.id == row["id"]))
        assert token is not None and token.startswith("2:")
        # The kept reply decrypts under the new key: the replay still answers.
        assert service.handle(session, final, Inbound("rot-1", UNKNOWN, "HK")).startswith(
            "本号码未在信用乡登记")
    engine.dispose()


@pytest.fixture
def gateway() -> Iterator[str]:
    yield from serve_gateway()


def test_the_http_gateway_gets_each_sms_with_its_number(session: Session, cipher: FieldCipher,
                                                        county: dict[str, User],
                                                        gateway: str) -> None:
    from ctown.notify.channels import HttpSmsBackend

    household = county["farmer"].subject_id
    assert household is not None
    reply = _send(session, cipher, "BZ", sender=UNKNOWN)
    decision = _lending_notice(session, household, ref_kind="loan_application", ref_id=3)
    result = tasks.deliver(session, Notifier({"sms": HttpSmsBackend(gateway, "", cipher),
                                              "in_app": MemoryBackend()}))
    assert result.sent == 2
    got = {body["id"]: (body["to"], body["text"]) for _h, body in Gateway.received}
    assert got[str(decision)] == (HEAD, "您的贷款申请 1 已受理，将在 3 个工作日内完成审批")
    assert (UNKNOWN, reply) in got.values()
