"""The SMS webhook and the sign-in by code pages over HTTP, and ``ctown notify outbox --json``, on
both databases: malformed, spoofed, replayed and unknown-number messages; a full code sign-in."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import build_county, people_frame
from tests.webutil import csrf_from
from typer.testing import CliRunner

from ctown.app import create_app
from ctown.channels import otp
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.notify import tasks
from ctown.notify.models import Notification
from ctown.settings import Settings

SECRET = "gateway-secret"
URL = "/api/v1/channels/sms/inbound"
HEAD = "13800000000"
HEAD_ID = str(people_frame(1, "330521100201")["resident_id"][0])
HELP = "信用乡短信：回CX查等级，ED查额度，HK查还款，FK加内容提反馈，TD退订。"
UNKNOWN = "本号码未在信用乡登记，查不到信息。请带身份证到村信用信息员处登记手机号。"


class Site:
    def __init__(self, client: TestClient, url: str, var: Path) -> None:
        self.client, self.url, self.var = client, url, var
        self.engine = make_engine(url)
        self._n = 0

    def outbox(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(Notification)) or 0)

    def post(self, body: bytes, signature: str | None = "sign", **headers: str) -> object:
        if signature == "sign":
            signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if signature is not None:
            headers["X-Ctown-Signature"] = signature
        return self.client.post(URL, content=body, headers={"Content-Type": "application/json",
                                                            **headers})

    def sms(self, text: str, sender: str = HEAD, mid: str | None = None) -> object:
        self._n += 1
        body = {"id": mid or f"web-{self._n}", "from": sender, "text": text}
        return self.post(json.dumps(body, ensure_ascii=False).encode())


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("channels-web")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(var / "keys.json"), households=2)
    engine.dispose()
    settings = Settings(database_url=url, var_dir=var, sms_secret=SECRET, sms_backend="memory",
                        sms_replies_per_10_minutes=1000, sms_replies_per_day=1000)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        s = Site(client, url, var)
        yield s
        s.engine.dispose()


def test_commands_in_every_spelling(site: Site) -> None:
    expected = "张*：目前没有待还的贷款。"
    for text in ("HK", "hk", "ＨＫ", " h k ", "还款", "还 款", "HK 谢谢", "还款？"):
        answer = site.sms(text)
        assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
        assert answer.json() == {"reply": expected}, text  # type: ignore[attr-defined]
    assert site.sms("CXY").json()["reply"] == HELP  # type: ignore[attr-defined]


def test_numbers_in_every_spelling_and_unknown_ones(site: Site) -> None:
    for sender in ("+86 138 0000 0000", "86-138-0000-0000", "+8613800000000"):
        assert site.sms("HK", sender=sender).json()["reply"].startswith("张*")  # type: ignore[attr-defined]
    assert site.sms("CX", sender="13700000000").json() == {"reply": UNKNOWN}  # type: ignore[attr-defined]


def test_spoofed_or_unsigned_is_401_and_queues_nothing(site: Site) -> None:
    body = json.dumps({"id": "spoof-1", "from": HEAD, "text": "CX"}).encode()
    before = site.outbox()
    for signature in (None, "", "00" * 32, hmac.new(b"other", body, hashlib.sha256).hexdigest()):
        assert site.post(body, signature=signature).status_code == 401  # type: ignore[attr-defined]
    signed_other = hmac.new(SECRET.encode(), body + b" ", hashlib.sha256).hexdigest()
    assert site.post(body, signature=signed_other).status_code == 401  # type: ignore[attr-defined]
    assert site.outbox() == before
    # The id was never seen: the real message later is answered and queued.
    assert site.post(body).status_code == 200  # type: ignore[attr-defined]
    assert site.outbox() == before + 1


def test_replayed_id_same_reply_nothing_more_queued(site: Site) -> None:
    first = site.sms("HK", mid="replay-1").json()  # type: ignore[attr-defined]
    queued = site.outbox()
    for text in ("HK", "CX", "TD"):
        assert site.sms(text, mid="replay-1").json() == first  # type: ignore[attr-defined]
    assert site.outbox() == queued


@pytest.mark.parametrize("body", [
    b"{not json", b"[]", b'"CX"', b"{}", b'{"id": "x", "from": "13800000000"}',
    b'{"id": 5, "from": "13800000000", "text": "CX"}', "\xff\xfe非UTF-8".encode("latin-1", "replace"),
    b"\xff\xfe\x00\x01", b'{"id": "bad-from", "from": "hello", "text": "CX"}',
    b'{"id": "nul\\u0000", "from": "13800000000", "text": "CX"}',
])
def test_malformed_bodies_are_refused_and_queue_nothing(site: Site, body: bytes) -> None:
    before = site.outbox()
    answer = site.post(body)
    assert answer.status_code in (400, 422), answer.text  # type: ignore[attr-defined]
    assert "zh" in answer.json()["detail"]  # type: ignore[attr-defined]
    assert site.outbox() == before


def test_a_huge_body_is_refused(site: Site) -> None:
    body = json.dumps({"id": "huge", "from": HEAD, "text": "CX" * 10_000}).encode()
    assert site.post(body).status_code == 413  # type: ignore[attr-defined]


def test_a_long_text_is_read_and_answered_in_one_segment(site: Site) -> None:
    answer = site.sms("反馈 " + "路" * 1500)
    assert answer.status_code == 200 and len(answer.json()["reply"]) <= 70  # type: ignore[attr-defined]


def test_sign_in_by_code_and_the_outbox_command(site: Site) -> None:
    client = site.client
    page = client.get("/login/code")
    assert page.status_code == 200 and "身份证号" in page.text
    english = client.get("/login/code?lang=en")
    assert "Sign in with a code" in english.text and "验证码登录" not in english.text
    client.get("/login/code?lang=zh")
    started = time.monotonic()
    sent = client.post("/login/code", data={"resident_id": HEAD_ID, "csrf_token":
                                            csrf_from(page.text), "next": "/"})
    assert time.monotonic() - started >= otp.FLOOR
    assert sent.status_code == 200 and "验证码已发到登记的手机" in sent.text
    ticket = re.search(r'name="ticket" value="([^"]+)"', sent.text)
    assert ticket
    tasks.wait_sent(client.app.state.engine)  # type: ignore[attr-defined]
    env = {"CTOWN_DATABASE_URL": site.url, "CTOWN_VAR_DIR": str(site.var),
           "CTOWN_SMS_BACKEND": "null"}
    from ctown.cli import app as root

    out = CliRunner().invoke(root, ["notify", "outbox", "--json", "--limit", "200"], env=env)
    assert out.exit_code == 0, out.output
    lines = [json.loads(line) for line in out.output.splitlines()]
    assert all({"id", "channel", "to", "text", "status"} <= set(r) for r in lines)
    assert HEAD not in out.output and "13700000000" not in out.output
    assert {r["to"] for r in lines if r["channel"] == "sms"} <= {"138****0000", "137****0000"}
    code = re.search(r"验证码 (\d{6})", lines[-1]["text"])
    assert code and lines[-1]["status"] == "sent"
    wrong = client.post("/login/code/verify", data={
        "ticket": ticket.group(1), "code": "abcdef", "csrf_token": csrf_from(sent.text)})
    assert wrong.status_code == 401 and "验证码不正确" in wrong.text
    done = client.post("/login/code/verify", data={
        "ticket": ticket.group(1), "code": code.group(1), "csrf_token": csrf_from(wrong.text),
        "next": "/account"})
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert client.get("/account").status_code == 200
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})


def test_an_unknown_id_gets_the_same_page(site: Site) -> None:
    client = site.client
    page = client.get("/login/code")
    before = site.outbox()
    started = time.monotonic()
    sent = client.post("/login/code", data={"resident_id": "330521199901019999",
                                            "csrf_token": csrf_from(page.text)})
    assert time.monotonic() - started >= otp.FLOOR  # as long as one that sends a code
    assert sent.status_code == 200 and "验证码已发到登记的手机" in sent.text
    assert 'name="ticket"' in sent.text
    assert site.outbox() == before
