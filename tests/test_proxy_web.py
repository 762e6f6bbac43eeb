"""Proxy mandates through the real app, both databases: the officer records and confirms at the
desk (CSRF, the code never on a page, a wrong code counted although the answer is an error), the
farmer's page lists the mandates and every act and revokes in two clicks, the proxy's page; the
JSON API for the same; a page at 360 px in Chromium."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import VILLAGE_A, build_county
from tests.webutil import csrf_from, login

from ctown.access import rules
from ctown.accounts.models import ProxyMandate
from ctown.accounts.service import issue_token
from ctown.app import create_app
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.notify import tasks
from ctown.notify.models import Notification
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
        homes = list(session.scalars(sa.select(Subject.id).where(
            Subject.kind == "household", Subject.region_code == VILLAGE_A).order_by(Subject.id)))
        info = {"tokens": {k: issue_token(session, u, "test") for k, u in county.users.items()},
                "ids": {k: u.id for k, u in county.users.items()}, "homes": homes}
    engine.dispose()
    settings = Settings(database_url=url, var_dir=var, sms_backend="memory")
    with TestClient(create_app(settings), follow_redirects=False) as client:
        yield client, info


def _h(info: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {info['tokens'][who]}"}


def _db(client: TestClient) -> Any:
    return session_factory(client.app.state.engine)()  # type: ignore[attr-defined]


def _code(client: TestClient, mandate_id: int) -> str:
    """The code as the farmer reads it: the text the SMS backend delivered (the outbox keeps it
    no longer once delivered)."""
    app: Any = client.app
    tasks.wait_sent(app.state.engine)
    with _db(client) as s:
        ids = set(s.scalars(sa.select(Notification.id).where(
            Notification.ref_kind == "proxy_mandate", Notification.ref_id == mandate_id)))
        left = s.scalars(sa.select(Notification.params).where(Notification.id.in_(ids))).all()
    assert all(p["code"] == "······" for p in left)
    texts = [text for i, _c, text in app.state.notifier.backend("sms").sent if i in ids]
    found = re.search(r"验证码 (\d{6})", texts[-1])
    assert found
    return found.group(1)


def _mandate(client: TestClient, mandate_id: int) -> ProxyMandate:
    with _db(client) as s:
        m = s.get(ProxyMandate, mandate_id)
        assert m is not None
        s.expunge(m)
        return m


def test_the_officer_records_and_the_farmer_confirms_by_code(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    form = client.get("/proxy/desk/new", params={"q": "张0"})
    assert form.status_code == 200 and 'name="household_id"' in form.text
    assert f'value="{info["ids"]["proxy"]}"' in form.text  # the village's proxy to choose
    token = csrf_from(form.text)
    until = (rules.today() + dt.timedelta(days=200)).isoformat()
    data = {"household_id": info["homes"][0], "proxy_id": info["ids"]["proxy"],
            "scopes": ["query", "apply"], "until": until}
    assert client.post("/proxy/desk", data=data).status_code == 403  # no CSRF token
    late = {**data, "until": (rules.today() + dt.timedelta(days=400)).isoformat()}
    refused = client.post("/proxy/desk", data={**late, "csrf_token": token})
    assert refused.status_code == 422 and "一年" in refused.text
    done = client.post("/proxy/desk", data={**data, "csrf_token": token})
    assert done.status_code == 303
    page_url = done.headers["location"].split("?")[0]
    mandate_id = int(page_url.rsplit("/", 1)[1])
    page = client.get(page_url)
    assert "待确认" in page.text and "代为申请贷款" in page.text
    sent = client.post(f"{page_url}/code", data={"csrf_token": token})
    assert sent.status_code == 303
    code = _code(client, mandate_id)
    wrong = "000000" if code != "000000" else "111111"
    answer = client.post(f"{page_url}/confirm-code", data={"code": wrong, "csrf_token": token})
    assert answer.status_code == 422 and "还可以再试 4 次" in answer.text
    assert _mandate(client, mandate_id).code_failures == 1  # committed although answered 422
    ok = client.post(f"{page_url}/confirm-code", data={"code": code, "csrf_token": token})
    assert ok.status_code == 303
    page = client.get(page_url)
    assert "生效中" in page.text and "短信验证码" in page.text
    # The officer saw the code on no page.
    assert all(code not in html for html in (form.text, page.text, answer.text))
    listing = client.get("/proxy/desk", params={"state": "in_force"})
    assert f"/proxy/desk/{mandate_id}" in listing.text
    assert f"/proxy/desk/{mandate_id}" not in client.get(
        "/proxy/desk", params={"state": "awaiting"}).text
    # Another village's officer: not found.
    assert client.get(page_url, headers=_h(info, "village2")).status_code == 404


def test_the_farmer_sees_every_act_and_revokes(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    home = info["homes"][0]
    r = client.post("/api/v1/proxy/mandates", headers=_h(info, "village"), json={
        "household_id": home, "proxy_id": info["ids"]["proxy"], "scopes": ["consent"],
        "until": (rules.today() + dt.timedelta(days=30)).isoformat()})
    assert r.status_code == 200, r.text
    mandate_id = r.json()["id"]
    assert r.json()["state"] == "awaiting"
    r = client.post(f"/api/v1/proxy/mandates/{mandate_id}/confirm", headers=_h(info, "village"),
                    json={"paper_ref": "WK-2026-088"})
    assert r.status_code == 200 and r.json()["state"] == "in_force"
    # The proxy acts: opens the household, gives a bank consent for it.
    assert client.get(f"/api/v1/subjects/{home}", headers=_h(info, "proxy")).status_code == 200
    r = client.post("/api/v1/privacy/consents", headers=_h(info, "proxy"), json={
        "subject_id": home, "bank_code": "RCB001", "purpose": "credit_line", "days": 30})
    assert r.status_code == 200, r.text
    acts = client.get("/api/v1/proxy/acts", headers=_h(info, "farmer")).json()
    kinds = [a["kind"] for a in acts]
    assert kinds[:3] == ["consent", "look", "confirmed"], kinds
    assert acts[0]["text"]["zh"].startswith("代为授权 RCB001") and acts[0]["text"]["en"]
    times = [a["at"] for a in acts]
    assert times == sorted(times, reverse=True)
    # The farmer's page: mandates, the acts in Beijing time, revoking in two clicks.
    client.cookies.clear()
    login(client, "farmer", "pw-farmer-123")
    page = client.get("/proxy")
    assert page.status_code == 200
    assert "凭纸质授权书（编号 WK-2026-088）确认了授权" in page.text and "查阅户籍信息" in page.text
    beijing = rules.local_time(dt.datetime.fromisoformat(acts[0]["at"])).strftime("%Y-%m-%d %H:%M")
    assert beijing in page.text
    confirm = client.get(f"/proxy/mandates/{mandate_id}/revoke")
    assert confirm.status_code == 200 and "确定撤销" in confirm.text
    token = csrf_from(confirm.text)
    assert client.post(f"/proxy/mandates/{mandate_id}/revoke").status_code == 403  # no CSRF
    gone = client.post(f"/proxy/mandates/{mandate_id}/revoke", data={"csrf_token": token})
    assert gone.status_code == 303 and gone.headers["location"] == "/proxy?msg=revoked"
    page = client.get("/proxy?msg=revoked")
    assert "授权已撤销" in page.text and "您撤销了授权" in page.text
    # From now on the proxy reaches the household no more for consents.
    r = client.post("/api/v1/privacy/consents", headers=_h(info, "proxy"), json={
        "subject_id": home, "bank_code": "RCB001", "purpose": "post_loan", "days": 30})
    assert r.status_code == 404
    # English, as a second language.
    en = client.get("/proxy?lang=en").text
    assert "What your proxies did" in en and "You revoked the mandate" in en
    client.cookies.clear()


def test_the_api_refuses_and_answers_wrong_codes(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    home = info["homes"][1]
    base = {"household_id": home, "proxy_id": info["ids"]["proxy"], "scopes": ["query"],
            "until": (rules.today() + dt.timedelta(days=5)).isoformat()}
    assert client.post("/api/v1/proxy/mandates", headers=_h(info, "farmer"),
                       json=base).status_code == 403
    assert client.post("/api/v1/proxy/mandates", headers=_h(info, "village2"),
                       json=base).status_code == 404
    past = {**base, "until": (rules.today() - dt.timedelta(days=1)).isoformat()}
    assert client.post("/api/v1/proxy/mandates", headers=_h(info, "village"),
                       json=past).status_code == 422
    assert client.post("/api/v1/proxy/mandates", headers=_h(info, "village"),
                       json={**base, "scopes": ["everything"]}).status_code == 422
    made = client.post("/api/v1/proxy/mandates", headers=_h(info, "village"), json=base).json()
    url = f"/api/v1/proxy/mandates/{made['id']}"
    sent = client.post(f"{url}/code", headers=_h(info, "village"))
    assert sent.status_code == 200 and set(sent.json()) == {"mandate_id", "expires_at"}
    code = _code(client, made["id"])
    assert code not in sent.text
    wrong = "000000" if code != "000000" else "111111"
    r = client.post(f"{url}/confirm", headers=_h(info, "village"), json={"code": wrong})
    assert r.status_code == 422 and r.json()["attempts_left"] == 4 and r.json()["detail"]["en"]
    both = client.post(f"{url}/confirm", headers=_h(info, "village"),
                       json={"code": code, "paper_ref": "X"})
    assert both.status_code == 422
    r = client.post(f"{url}/confirm", headers=_h(info, "village"), json={"code": code})
    assert r.status_code == 200 and r.json()["confirmation"] == "sms"
    held = client.get("/api/v1/proxy/held", headers=_h(info, "proxy")).json()
    assert made["id"] in {m["id"] for m in held if m["state"] == "in_force"}
    assert client.get(url, headers=_h(info, "bank")).status_code == 404
    assert client.post(f"{url}/revoke", headers=_h(info, "village"),
                       json={}).status_code == 422  # the officer gives a reason
    r = client.post(f"{url}/revoke", headers=_h(info, "village"), json={"reason": "农户要求"})
    assert r.status_code == 200 and r.json()["state"] == "revoked"
    choices = client.get("/api/v1/proxy/choices/households", params={"q": "张"},
                         headers=_h(info, "village")).json()
    assert {c["id"] for c in choices} == set(info["homes"])
    proxies = client.get("/api/v1/proxy/choices/proxies", headers=_h(info, "village")).json()
    assert [p["id"] for p in proxies] == [info["ids"]["proxy"]]


def test_menus_and_pages_by_role(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    pages = {"/proxy": {"farmer"}, "/proxy/acting": {"proxy"},
             "/proxy/desk": {"village", "township", "admin"}}
    for who in ("farmer", "proxy", "village", "township", "admin", "bank", "feed"):
        # The farmer's "/" is their phone-first home (/farmer), whose menu names their proxies
        # page of its own; everyone else's home carries the top menu.
        home = client.get("/", headers=_h(info, who), follow_redirects=True).text
        for path, allowed in pages.items():
            status = client.get(path, headers=_h(info, who)).status_code
            assert status == (200 if who in allowed else 403), (who, path)
            link = "/farmer/proxies" if who == "farmer" and path == "/proxy" else path
            assert (f'href="{link}"' in home) == (who in allowed), (who, path)
    held = client.get("/proxy/acting", headers=_h(info, "proxy")).text
    assert "我代理的农户" in held


@pytest.mark.browser
def test_the_farmer_page_at_360_px(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Phone first: no sideways scrolling, buttons a thumb can hit (≥ 44 px high), two taps."""
    from tests.browser import chromium_page, require_chromium, running_server

    from ctown.proxy import service

    require_chromium()
    url = db_factory.migrated_url()
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=2,
                              passwords=True)
        users = county.users
        m = service.record(session, users["village"], household_id=users["farmer"].subject_id or 0,
                           proxy_id=users["proxy"].id, scopes=["query", "apply", "consent"],
                           until=rules.today() + dt.timedelta(days=100))
        service.confirm_paper(session, users["village"], m.id, "WK-360")
        mandate_id = m.id
    engine.dispose()
    with running_server(url, tmp_path) as base, chromium_page() as page:
        page.set_viewport_size({"width": 360, "height": 740})  # type: ignore[attr-defined]
        page.goto(base + "/login?next=/proxy")  # type: ignore[attr-defined]
        page.fill("#username", "farmer")  # type: ignore[attr-defined]
        page.fill("#password", "pw-farmer-123")  # type: ignore[attr-defined]
        page.click("button[type=submit]")  # type: ignore[attr-defined]
        page.wait_for_url(base + "/proxy")  # type: ignore[attr-defined]
        width = page.evaluate("document.documentElement.scrollWidth")  # type: ignore[attr-defined]
        assert width <= 360
        button = page.locator("a.big.danger").first  # type: ignore[attr-defined]
        box = button.bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 280
        page.screenshot(path=str(tmp_path / "proxy-360.png"))  # type: ignore[attr-defined]
        button.click()
        page.wait_for_url(f"{base}/proxy/mandates/{mandate_id}/revoke")  # type: ignore[attr-defined]
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # type: ignore[attr-defined]
        page.click("button.big.danger")  # type: ignore[attr-defined]
        page.wait_for_url(base + "/proxy?msg=revoked")  # type: ignore[attr-defined]
        assert "授权已撤销" in page.inner_text("main")  # type: ignore[attr-defined]
    engine = make_engine(url)
    with session_factory(engine)() as session:
        assert session.get(ProxyMandate, mandate_id).revoked_at is not None  # type: ignore[union-attr]
    engine.dispose()
