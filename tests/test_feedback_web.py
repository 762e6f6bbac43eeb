"""Feedback through the real app, both databases: the farmer's phone-first form (cookie and
CSRF), their own list, another's item "not found"; the officers' queue with the overdue flag and
the on-time rate; answering; the JSON API; the proxy's home with its households; the demo
builder on the test county and the CLI's escalation job."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import VILLAGE_A, build_county
from tests.personas import mandate
from tests.webutil import csrf_from, login
from typer.testing import CliRunner

from ctown.accounts.models import User
from ctown.accounts.service import issue_token
from ctown.app import create_app
from ctown.capabilities import DemoContext
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory, utcnow
from ctown.feedback import demo, service
from ctown.feedback.models import Feedback
from ctown.registry.models import Subject
from ctown.settings import Settings


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var: Path = tmp_path_factory.mktemp("var")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = build_county(session, FieldCipher.load(var / "keys.json"), households=3,
                              passwords=True)
        home = county.users["farmer"].subject_id
        session.add(mandate(county.users["proxy"].id, home,
                            valid_until=utcnow() + dt.timedelta(days=30)))
        other = session.scalar(sa.select(Subject.id).where(
            Subject.kind == "household", Subject.region_code == VILLAGE_A,
            Subject.id != home).order_by(Subject.id).limit(1))
        info = {"tokens": {k: issue_token(session, u, "test") for k, u in county.users.items()},
                "ids": {k: u.id for k, u in county.users.items()}, "home": home, "other": other}
    engine.dispose()
    settings = Settings(database_url=url, var_dir=var, sms_backend="memory")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client, info


def _h(info: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {info['tokens'][who]}"}


def test_the_farmer_writes_and_reads_their_own(site) -> None:  # type: ignore[no-untyped-def]
    client, _info = site
    client.cookies.clear()
    login(client, "farmer", "pw-farmer-123")
    form = client.get("/feedback/new")
    assert form.status_code == 200
    assert "我要反馈" in form.text and "font-size:18px" in form.text
    assert client.post("/feedback", data={"text": "路灯坏了"}).status_code == 403  # no CSRF
    sent = client.post("/feedback", data={"text": "路灯坏了", "kind": "feedback",
                                          "csrf_token": csrf_from(form.text)})
    assert sent.status_code == 303 and sent.headers["location"].startswith("/feedback/mine?msg=")
    mine = client.get(sent.headers["location"])
    assert "路灯坏了" in mine.text and "48 小时内答复" in mine.text
    en = client.get("/feedback/mine?lang=en").text
    assert "My feedback" in en and "Awaiting an answer" in en
    client.cookies.clear()


def test_the_queue_answers_and_the_rate(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    r = client.post("/api/v1/feedback", headers=_h(info, "farmer"),
                    json={"text": "贷款到账慢", "kind": "complaint"})
    assert r.status_code == 201, r.text
    item = r.json()
    assert (item["channel"], item["assigned_role"], item["status"]) == (
        "page", "township_officer", "received")
    deadline = dt.datetime.fromisoformat(item["deadline_at"])
    assert deadline - dt.datetime.fromisoformat(item["received_at"]) == dt.timedelta(hours=48)
    # A complaint is not the village officer's; the township officer's queue shows it.
    assert client.get(f"/api/v1/feedback/{item['id']}", headers=_h(info, "village")
                      ).status_code == 404
    assert client.get(f"/feedback/{item['id']}", headers=_h(info, "village2")).status_code == 404
    queue = client.get("/feedback/queue", headers=_h(info, "township"))
    assert queue.status_code == 200 and "贷款到账慢" in queue.text and "服务响应及时率" in queue.text
    assert client.get("/feedback/queue", headers=_h(info, "farmer")).status_code == 403
    page = client.get(f"/feedback/{item['id']}", headers=_h(info, "township"))
    assert "发送答复" in page.text
    r = client.post(f"/api/v1/feedback/{item['id']}/answer", headers=_h(info, "township"),
                    json={"text": "已联系银行"})
    assert r.status_code == 200 and r.json()["status"] == "answered"
    assert client.post(f"/api/v1/feedback/{item['id']}/answer", headers=_h(info, "township"),
                       json={"text": "再答"}).status_code == 409
    mine = client.get("/api/v1/feedback", headers=_h(info, "farmer")).json()
    assert {m["answer"] for m in mine if m["id"] == item["id"]} == {"已联系银行"}
    # The farmer of another household does not see it (no such item, for them).
    with session_factory(client.app.state.engine)() as s:  # type: ignore[attr-defined]
        farmer2 = User(username="farmer_other", display_name="farmer_other", role="farmer",
                       region_code=VILLAGE_A, subject_id=info["other"], password_hash=None)
        s.add(farmer2)
        s.flush()
        token = issue_token(s, farmer2, "test")
        s.commit()
    other = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/api/v1/feedback/{item['id']}", headers=other).status_code == 404
    assert client.get(f"/feedback/{item['id']}", headers=other).status_code == 404
    # Counted by deadline: the window must reach past it; answered early, it counts at once.
    until = (deadline + dt.timedelta(minutes=1)).isoformat()
    rate = client.get("/api/v1/feedback/timeliness", headers=_h(info, "admin"),
                      params={"until": until}).json()
    assert (rate["target"], rate["answered_on_time"], rate["due"], rate["rate"]) == (
        0.98, 1, 1, 1.0)
    assert client.get("/api/v1/feedback/timeliness", headers=_h(info, "farmer")
                      ).status_code == 403


def test_bad_input_is_a_422_in_both_languages(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    r = client.post("/api/v1/feedback", headers=_h(info, "farmer"), json={"text": "  "})
    assert r.status_code == 422
    assert "请填写反馈内容" in r.text and "Please write" in r.text
    admin = _h(info, "admin")
    for query in ({"since": "2026-12-01T00:00:00"}, {"region": "33\x00"}):  # naive; not a code
        assert client.get("/api/v1/feedback/timeliness", headers=admin, params=query
                          ).status_code == 422
    assert client.get("/api/v1/feedback", headers=admin, params={"status": "lost"}
                      ).status_code == 422
    for path in (f"/api/v1/feedback/{2**70}", f"/api/v1/feedback/{2**40}", "/feedback/99999"):
        assert client.get(path, headers=admin).status_code == 404
    r = client.post("/api/v1/feedback", headers=admin,
                    json={"text": "x", "region_code": "33052110020\u0000"})
    assert r.status_code == 422


def test_the_proxy_home_lists_its_households(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    r = client.post("/api/v1/feedback", headers=_h(info, "proxy"),
                    json={"text": "户主问额度", "subject_id": info["home"]})
    assert r.status_code == 201
    page = client.get("/proxy/acting", headers=_h(info, "proxy"))
    assert page.status_code == 200
    assert "我代理的农户" in page.text and "未答复的反馈：" in page.text
    assert "信用等级：" in page.text and "办理中的贷款申请：" in page.text
    assert client.get("/proxy/acting", headers=_h(info, "farmer")).status_code == 403
    # The farmer sees it marked as the proxy's.
    mine = client.get("/feedback/mine", headers=_h(info, "farmer")).text
    assert "由代理员 proxy 代办" in mine


def test_demo_builder_and_the_job(session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cipher = FieldCipher.load(tmp_path / "keys.json")
    county = build_county(session, cipher)
    users = list(county.users.values())
    ctx = DemoContext.of(Settings(var_dir=tmp_path), tmp_path, users, cipher=cipher)
    demo.build(session, ctx)
    items = list(session.scalars(sa.select(Feedback).order_by(Feedback.id)))
    assert [(i.channel, i.kind) for i in items] == [
        ("page", "feedback"), ("sms", "complaint"), ("officer", "feedback"), ("page", "feedback")]
    escalated = [i for i in items if i.escalation_level]
    assert len(escalated) == 1 and escalated[0].status == "received"
    assert service.is_overdue(escalated[0])
    assert sum(i.status == "answered" for i in items) == 1
    demo.build(session, ctx)  # idempotent
    assert session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == len(items)


def test_the_cli_escalates(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ctown.cli import app

    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=1)
        service.submit(session, county.users["farmer"], subject_id=None, channel="page",
                       text="旧反馈", cipher=county.cipher,
                       now=utcnow() - dt.timedelta(hours=50))
    engine.dispose()
    env = {"CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(tmp_path)}
    runner = CliRunner()
    out = runner.invoke(app, ["feedback", "escalate"], env=env)
    assert out.exit_code == 0, out.output
    assert json.loads(out.output.strip().splitlines()[-1]) == {"escalated": 1}
    listed = runner.invoke(app, ["feedback", "list", "--overdue"], env=env)
    [row] = [json.loads(line) for line in listed.output.strip().splitlines()]
    assert (row["role"], row["overdue"], row["escalation_level"]) == ("township_officer", True, 1)
    assert "旧反馈" not in listed.output  # the words stay encrypted, off the operator's screen
