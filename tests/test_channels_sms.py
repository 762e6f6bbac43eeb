"""SMS commands without a database: parsing in every width, case and spacing; numbers in every
spelling; every reply within one 70-character segment (Hypothesis over generated summaries and
texts); the HTTP SMS backend against a local gateway (no network)."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctown.channels.service import reply_for
from ctown.channels.sms import SEGMENT, Command, fit, parse
from ctown.crypto import FieldCipher
from ctown.farmer.summary import FarmerSummary, NextInstalment
from ctown.notify.address import normalise_phone, outbox_aad
from ctown.notify.channels import HttpSmsBackend, NoAddress, Outgoing, SmsRefused
from ctown.notify.setup import notifier_from_settings
from ctown.settings import Settings

C = Command


@pytest.mark.parametrize(("text", "command", "rest"), [
    ("查询", C.grade, ""), ("CX", C.grade, ""), ("cx", C.grade, ""), ("ＣＸ", C.grade, ""),
    ("ｃｘ", C.grade, ""), (" C X ", C.grade, ""), ("查 询一下", C.grade, "一下"),
    ("CX 谢谢", C.grade, "谢谢"), ("cx123", C.grade, "123"), ("CXY", C.unknown, ""),
    ("额度", C.credit, ""), ("ED", C.credit, ""), ("还款", C.repay, ""), ("hk!", C.repay, ""),
    ("帮助", C.help, ""), ("bz", C.help, ""), ("退订", C.opt_out, ""), ("TD", C.opt_out, ""),
    ("ｔｄ", C.opt_out, ""), ("订阅", C.opt_in, ""), ("反馈 路灯坏了", C.feedback, "路灯坏了"),
    ("反馈：路灯坏了", C.feedback, "路灯坏了"), ("FK路灯坏了", C.feedback, "路灯坏了"),
    ("投诉 放款慢", C.complaint, "放款慢"), ("你好", C.unknown, ""), ("", C.unknown, ""),
    ("\u3000查询\u3000", C.grade, ""), ("。CX", C.grade, ""), ("\x00CX", C.grade, ""),
])
def test_parse(text: str, command: Command, rest: str) -> None:
    parsed = parse(text)
    assert (parsed.command, parsed.rest) == (command, rest)


@pytest.mark.parametrize(("raw", "number"), [
    ("13812345678", "13812345678"), ("+86 138 1234 5678", "13812345678"),
    ("+86-138-1234-5678", "13812345678"), ("0086 13812345678", "13812345678"),
    ("86 13812345678", "13812345678"), ("１３８１２３４５６７８", "13812345678"),
    ("(138) 1234-5678", "13812345678"), ("12812345678", None), ("1381234567", None),
    ("hello", None), ("", None), ("1" * 100, None), ("+1 415 555 0100", None),
])
def test_normalise_phone(raw: str, number: str | None) -> None:
    assert normalise_phone(raw) == number


def test_fit_keeps_the_required_part_and_adds_what_fits() -> None:
    assert fit("甲" * 60, ["乙" * 5, "丙" * 6, "丁" * 5]) == "甲" * 60 + "乙" * 5 + "丁" * 5
    assert fit("甲" * 80) == "甲" * 69 + "…"


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=120)
_money = st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2)


@st.composite
def summaries(draw: st.DrawFn) -> FarmerSummary:
    instalment = draw(st.none() | st.builds(
        NextInstalment, due_on=st.dates(dt.date(2020, 1, 1), dt.date(2040, 12, 31)),
        amount=_money, product_name=_text, overdue=st.booleans()))
    return FarmerSummary(
        subject_id=1, name_masked=draw(_text), grade=draw(st.none() | st.sampled_from(
            ["A1", "A2", "B1", "B2", "C", "D"])), grade_words=draw(_text),
        benefits=draw(st.lists(_text, max_size=4)), limit=draw(st.none() | _money),
        reasons=draw(st.lists(_text, max_size=3)), tip=draw(st.none() | _text),
        next_instalment=instalment)


@settings(max_examples=300, deadline=None)
@given(summary=summaries(), command=st.sampled_from([C.grade, C.credit, C.repay]))
def test_every_reply_fits_one_segment(summary: FarmerSummary, command: Command) -> None:
    reply = reply_for(command, summary)
    assert 0 < len(reply) <= SEGMENT


@settings(max_examples=300, deadline=None)
@given(text=_text)
def test_any_text_parses(text: str) -> None:
    parsed = parse(text)
    assert parsed.command in Command and len(parsed.rest) <= len(text) * 3 + 1


def test_a_typical_grade_reply() -> None:
    summary = FarmerSummary(subject_id=1, name_masked="张*华", grade="B1",
                            grade_words="信用良好一档（B1级）", benefits=[], limit=Decimal(150000),
                            reasons=[], tip="按时缴纳水电费可以加分", next_instalment=None)
    assert reply_for(C.grade, summary) == "张*华：信用良好一档（B1级）。按时缴纳水电费可以加分。回ED查额度"
    assert reply_for(C.credit, summary) == "张*华：授信额度最高15万元。"
    due = NextInstalment(dt.date(2026, 12, 20), Decimal("1250.50"), "丰收贷", overdue=False)
    late = NextInstalment(dt.date(2026, 11, 20), Decimal("1250.50"), "丰收贷", overdue=True)
    assert reply_for(C.repay, FarmerSummary(**{**summary.__dict__, "next_instalment": due})) == \
        "张*华：2026年12月20日应还1250.5元（丰收贷）。"
    assert reply_for(C.repay, FarmerSummary(**{**summary.__dict__, "next_instalment": late})) == \
        "张*华：丰收贷已逾期，2026年11月20日起应还1250.5元，请尽快还款。"


# -- the HTTP backend against a gateway on localhost ------------------------------------------
class Gateway(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []
    answer = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Gateway.received.append((dict(self.headers), body))
        self.send_response(Gateway.answer)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def gateway() -> Iterator[str]:
    yield from serve_gateway()


def serve_gateway() -> Iterator[str]:
    """A gateway on a free port of localhost for as long as the generator runs."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Gateway.received, Gateway.answer = [], 200
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/send"
    finally:
        server.shutdown()
        server.server_close()


def _notice(cipher: FieldCipher, notice_id: int, phone: str | None) -> Outgoing:
    token = cipher.encrypt(phone, outbox_aad(notice_id)) if phone else None
    return Outgoing(id=notice_id, channel="sms", user_id=None, subject_id=None, source="t",
                    ref_kind=None, ref_id=None, msgid="您好 {x}", params={"x": "1"},
                    address_token=token, address_aad=outbox_aad(notice_id) if token else None)


def test_http_backend_posts_the_message_with_its_outbox_id(gateway: str, tmp_path: Path) -> None:
    cipher = FieldCipher.load(tmp_path / "keys.json")
    backend = HttpSmsBackend(gateway, "tok", cipher)
    backend.send(_notice(cipher, 41, "13812345678"))
    [(headers, body)] = Gateway.received
    assert body == {"id": "41", "to": "13812345678", "text": "您好 1"}
    assert headers["Authorization"] == "Bearer tok"
    with pytest.raises(NoAddress):
        backend.send(_notice(cipher, 42, None))
    Gateway.answer = 503
    with pytest.raises(SmsRefused) as refused:
        backend.send(_notice(cipher, 43, "13812345678"))
    assert "13812345678" not in str(refused.value)


def test_http_backend_is_chosen_by_the_settings(gateway: str, tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, sms_backend="http", sms_http_url=gateway,
                        sms_http_token="t")
    notifier = notifier_from_settings(settings)
    assert notifier.names()["sms"] == "http"
    backend = notifier.backend("sms")
    assert isinstance(backend, HttpSmsBackend)
    cipher = FieldCipher.load(settings.keyring_path)
    backend.send(_notice(cipher, 7, "13900000001"))
    assert Gateway.received[-1][1]["to"] == "13900000001"
    with pytest.raises(ValueError, match="CTOWN_SMS_HTTP_URL"):
        notifier_from_settings(Settings(var_dir=tmp_path, sms_backend="http"))
