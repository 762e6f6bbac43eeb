"""Sessions and tokens through the real application, on both databases: server-side sessions
(logout, idle and absolute timeouts, a disabled user), API tokens (expiry, revocation), the
first-login password change on pages and the API, and one's own /account page."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import COUNTY
from tests.webutil import county_site, csrf_from, login

from ctown.accounts import users
from ctown.accounts.models import ApiToken, User, UserSession
from ctown.accounts.service import create_user
from ctown.db import make_engine, session_factory, utcnow

HTML = {"accept": "text/html"}


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    with county_site(url, tmp_path_factory.mktemp("accounts")) as client:
        yield client, url
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


@contextmanager
def database(url: str) -> Iterator[Session]:
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()


def new_user(url: str, name: str, *, must_change: bool = False) -> str:
    """A merchant with the password ``<name>-Kx9#2026`` (returned)."""
    password = f"{name}-Kx9#2026"
    with database(url) as s:
        create_user(s, username=name, password=password, role="merchant", region_code=COUNTY,
                    must_change_password=must_change)
    return password


def browser(site: tuple[TestClient, str]) -> TestClient:
    """Another browser on the same server (its own cookies)."""
    return TestClient(site[0].app, follow_redirects=False)


def cookie_session(client: TestClient) -> dict[str, Any]:
    """What the signed session cookie holds (Starlette: base64 JSON, then the signature)."""
    payload = client.cookies["ctown_session"].split(".")[0]
    return dict(json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4))))


def rows(url: str, username: str) -> list[UserSession]:
    with database(url) as s:
        uid = s.scalar(sa.select(User.id).where(User.username == username))
        found = list(s.scalars(sa.select(UserSession).where(UserSession.user_id == uid)
                               .order_by(UserSession.id)))
        s.expunge_all()
    return found


def set_times(url: str, session_id: int, **times: dt.datetime) -> None:
    with database(url) as s:
        s.execute(sa.update(UserSession).where(UserSession.id == session_id).values(**times))


def me(client: TestClient, token: str | None = None) -> int:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return client.get("/api/v1/me", headers=headers).status_code


def token_for(client: TestClient, username: str, password: str) -> dict[str, Any]:
    answer = client.post("/api/v1/auth/token", json={"username": username, "password": password,
                                                     "name": "script"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


# -- sessions --------------------------------------------------------------------------------------

def test_login_starts_a_server_side_session_with_a_new_id(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "sess_new")
    client = browser(site)
    client.get("/login")
    assert "sid" not in cookie_session(client)  # before login: the CSRF value only
    login(client, "sess_new", password)
    first = cookie_session(client)["sid"]
    login(client, "sess_new", password)
    second = cookie_session(client)["sid"]
    assert first != second
    made = rows(url, "sess_new")
    assert [r.id_hash for r in made] == [hashlib.sha256(s.encode()).hexdigest()
                                         for s in (first, second)]
    assert made[0].end_reason == "login" and made[1].ended_at is None  # the old one ended
    assert made[1].user_agent == "testclient" and made[1].client == "testclient"
    assert me(client) == 200


def test_a_logged_out_cookie_is_refused_for_good(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "sess_out")
    client = browser(site)
    login(client, "sess_out", password)
    copied = client.cookies["ctown_session"]
    home = client.get("/", headers=HTML)
    assert client.post("/logout", data={"csrf_token": csrf_from(home.text)}).status_code == 303
    replay = browser(site)
    replay.cookies.set("ctown_session", copied)
    assert me(replay) == 401
    page = replay.get("/households", headers=HTML)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    assert rows(url, "sess_out")[0].end_reason == "logout"


@pytest.mark.parametrize("late", ["idle", "absolute"])
def test_timeouts(site, late: str) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    name = f"sess_{late}"
    password = new_user(url, name)
    client = browser(site)
    login(client, name, password)
    row = rows(url, name)[0]
    now = utcnow()
    if late == "idle":  # 30 minutes by default
        set_times(url, row.id, last_seen_at=now - dt.timedelta(minutes=29))
        assert me(client) == 200
        set_times(url, row.id, last_seen_at=now - dt.timedelta(minutes=31))
    else:  # 8 hours after login, however busy
        set_times(url, row.id, created_at=now - dt.timedelta(hours=7, minutes=59))
        assert me(client) == 200
        set_times(url, row.id, created_at=now - dt.timedelta(hours=8, minutes=1),
                  last_seen_at=now)
    assert me(client) == 401
    assert client.get("/households", headers=HTML).headers["location"].startswith("/login")


def test_last_seen_is_written_at_most_once_a_minute(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "sess_seen")
    client = browser(site)
    login(client, "sess_seen", password)
    row = rows(url, "sess_seen")[0]
    assert me(client) == 200 and me(client) == 200
    assert rows(url, "sess_seen")[0].last_seen_at == row.last_seen_at
    earlier = utcnow() - dt.timedelta(minutes=2)
    set_times(url, row.id, last_seen_at=earlier)
    assert me(client) == 200
    assert rows(url, "sess_seen")[0].last_seen_at > earlier + dt.timedelta(minutes=1)


def test_a_disabled_users_cookie_and_token_stop_at_once(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "sess_disabled")
    client = browser(site)
    login(client, "sess_disabled", password)
    token = token_for(client, "sess_disabled", password)["access_token"]
    assert me(client) == 200 and me(browser(site), token) == 200
    with database(url) as s:  # even before anything ended them: the flag alone refuses
        s.execute(sa.update(User).where(User.username == "sess_disabled").values(is_active=False))
    assert me(client) == 401 and me(browser(site), token) == 401
    with database(url) as s:
        uid = s.scalar(sa.select(User.id).where(User.username == "sess_disabled"))
        s.execute(sa.update(User).where(User.id == uid).values(is_active=True))
        users.set_active(s, None, uid, False)
        users.set_active(s, None, uid, True)  # re-enabled: the old cookie and token stay dead
    assert me(client) == 401 and me(browser(site), token) == 401


# -- tokens ----------------------------------------------------------------------------------------

def test_a_token_expires_in_90_days_and_is_listed_and_revoked(site) -> None:  # type: ignore[no-untyped-def]
    client, url = browser(site), site[1]
    password = new_user(url, "tok_owner")
    answer = token_for(client, "tok_owner", password)
    expires = dt.datetime.fromisoformat(answer["expires_at"])
    assert expires.utcoffset() == dt.timedelta(0)
    assert abs(expires - (utcnow() + dt.timedelta(days=90))) < dt.timedelta(minutes=1)
    auth = {"authorization": f"Bearer {answer['access_token']}"}
    listed = client.get("/api/v1/auth/tokens", headers=auth).json()
    assert [t["name"] for t in listed] == ["script"] and "access_token" not in listed[0]
    other = token_for(client, "bank", "pw-bank-123")
    other_id = client.get("/api/v1/auth/tokens", headers={
        "authorization": f"Bearer {other['access_token']}"}).json()[0]["id"]
    assert client.delete(f"/api/v1/auth/tokens/{other_id}", headers=auth).status_code == 404
    assert client.delete(f"/api/v1/auth/tokens/{listed[0]['id']}",
                         headers=auth).status_code == 204
    assert me(client, answer["access_token"]) == 401
    assert me(client, other["access_token"]) == 200


def test_an_expired_token_is_refused_everywhere(site) -> None:  # type: ignore[no-untyped-def]
    client, url = browser(site), site[1]
    token = token_for(client, "village", "pw-village-123")["access_token"]
    assert me(client, token) == 200
    with database(url) as s:
        s.execute(sa.update(ApiToken).where(ApiToken.token_hash == hashlib.sha256(
            token.encode()).hexdigest()).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    assert me(client, token) == 401
    decision = client.post("/api/v1/lending/decisions", headers={
        "authorization": f"Bearer {token}"}, json={"subject_id": 1, "product_code": "rcb_credit",
                                                   "amount": "1000", "term_months": 12})
    assert decision.status_code == 401  # the fast path of the instant decision too


def test_revoking_by_cookie_needs_csrf(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "tok_cookie")
    client = browser(site)
    token = token_for(client, "tok_cookie", password)["access_token"]
    login(client, "tok_cookie", password)
    token_id = client.get("/api/v1/auth/tokens").json()[0]["id"]
    assert client.delete(f"/api/v1/auth/tokens/{token_id}").status_code == 403
    csrf = csrf_from(client.get("/account").text)
    assert client.delete(f"/api/v1/auth/tokens/{token_id}",
                         headers={"X-CSRF-Token": csrf}).status_code == 204
    assert me(browser(site), token) == 401


# -- first login -------------------------------------------------------------------------------------

def test_first_login_forces_a_password_change_on_pages(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    code = new_user(url, "first_page", must_change=True)
    client = browser(site)
    form = client.get("/login")
    sent = client.post("/login", data={"username": "first_page", "password": code,
                                       "csrf_token": csrf_from(form.text), "next": "/lending"})
    assert sent.status_code == 303 and sent.headers["location"] == "/account/password?next=/lending"
    for page in ("/households", "/account", "/admin/users"):
        moved = client.get(page, headers=HTML)
        assert moved.status_code == 303
        assert moved.headers["location"] == f"/account/password?next={page}"
    api = client.get("/api/v1/me")
    assert api.status_code == 403 and "new_password" in api.json()["detail"]["en"]
    page = client.get("/account/password?next=/lending")
    assert page.status_code == 200 and 'name="current"' not in page.text  # the code was just typed
    csrf = csrf_from(page.text)
    for bad, why in (("woaini1314", "太常见"), ("short-1", "至少需要 10"),
                     ("first_page-2026!", "用户名")):
        refused = client.post("/account/password", data={
            "new_password": bad, "confirm": bad, "next": "/lending", "csrf_token": csrf})
        assert refused.status_code == 422 and why in refused.text, bad
    differ = client.post("/account/password", data={
        "new_password": "稻田-晚霞-2026-kx", "confirm": "稻田-晚霞-2026-ky", "csrf_token": csrf})
    assert differ.status_code == 422
    assert client.post("/account/password", data={
        "new_password": "稻田-晚霞-2026-kx", "confirm": "稻田-晚霞-2026-kx"}).status_code == 403
    done = client.post("/account/password", data={
        "new_password": "稻田-晚霞-2026-kx", "confirm": "稻田-晚霞-2026-kx", "next": "/lending",
        "csrf_token": csrf})
    assert done.status_code == 303 and done.headers["location"] == "/lending"
    assert me(client) == 200 and client.get("/households").status_code == 200
    again = browser(site)
    assert again.post("/api/v1/auth/token", json={
        "username": "first_page", "password": code}).status_code == 401
    token_for(again, "first_page", "稻田-晚霞-2026-kx")


def test_first_login_on_the_api_sets_the_password_in_the_same_request(site) -> None:  # type: ignore[no-untyped-def]
    client, url = browser(site), site[1]
    code = new_user(url, "first_api", must_change=True)
    refused = client.post("/api/v1/auth/token", json={"username": "first_api", "password": code})
    assert refused.status_code == 403
    assert "new_password" in refused.json()["detail"]["en"]
    assert "设置您自己的密码" in refused.json()["detail"]["zh"]
    weak = client.post("/api/v1/auth/token", json={
        "username": "first_api", "password": code, "new_password": "a123456789"})
    assert weak.status_code == 422 and "common" in weak.json()["detail"]["en"]
    done = client.post("/api/v1/auth/token", json={
        "username": "first_api", "password": code, "new_password": "Kx9#mQ2vLp-farm"})
    assert done.status_code == 200 and me(client, done.json()["access_token"]) == 200
    with database(url) as s:
        assert s.scalar(sa.select(User.must_change_password).where(
            User.username == "first_api")) is False
    token_for(client, "first_api", "Kx9#mQ2vLp-farm")


# -- /account ------------------------------------------------------------------------------------------

def test_account_lists_sessions_marks_this_device_and_ends_any(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "acct_sessions")
    here, there = browser(site), browser(site)
    login(here, "acct_sessions", password)
    login(there, "acct_sessions", password)
    page = here.get("/account")
    assert page.status_code == 200 and page.text.count("本设备") == 1
    here_row, there_row = rows(url, "acct_sessions")  # here signed in first
    assert page.text.count("/account/sessions/") == 2
    ended = here.post(f"/account/sessions/{there_row.id}/end",
                      data={"csrf_token": csrf_from(page.text)})
    assert ended.status_code == 303 and me(there) == 401 and me(here) == 200
    page = here.get("/account")
    own = here.post(f"/account/sessions/{here_row.id}/end",
                    data={"csrf_token": csrf_from(page.text)})
    assert own.status_code == 303 and own.headers["location"] == "/login" and me(here) == 401


def test_account_tokens_are_shown_once_and_revoked(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "acct_tokens")
    client = browser(site)
    login(client, "acct_tokens", password)
    csrf = csrf_from(client.get("/account").text)
    made = client.post("/account/tokens", data={"name": "月报脚本", "csrf_token": csrf})
    assert made.status_code == 200
    token = made.text.split("<code>ctk_", 1)[1].split("</code>", 1)[0]
    token = "ctk_" + token
    assert me(browser(site), token) == 200
    later = client.get("/account").text
    assert token not in later and "月报脚本" in later
    with database(url) as s:
        token_id = s.scalar(sa.select(ApiToken.id).where(ApiToken.name == "月报脚本"))
    revoked = client.post(f"/account/tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoked.status_code == 303 and me(browser(site), token) == 401


def test_changing_ones_password_asks_the_current_one_and_ends_the_other_sessions(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    password = new_user(url, "acct_change")
    here, there = browser(site), browser(site)
    login(here, "acct_change", password)
    login(there, "acct_change", password)
    token = token_for(browser(site), "acct_change", password)["access_token"]
    page = here.get("/account/password")
    assert 'name="current"' in page.text
    wrong = here.post("/account/password", data={
        "current": "nope", "new_password": "Kx9#mQ2vLp-new", "confirm": "Kx9#mQ2vLp-new",
        "csrf_token": csrf_from(page.text)})
    assert wrong.status_code == 422 and "当前密码不正确" in wrong.text
    done = here.post("/account/password", data={
        "current": password, "new_password": "Kx9#mQ2vLp-new", "confirm": "Kx9#mQ2vLp-new",
        "csrf_token": csrf_from(page.text)})
    assert done.status_code == 303 and done.headers["location"] == "/account?done=password"
    assert me(here) == 200 and me(there) == 401
    assert me(browser(site), token) == 200  # scripts keep running


def test_a_write_is_committed_before_the_answer_starts(site) -> None:  # type: ignore[no-untyped-def]
    """The request's transaction commits before the first byte of the answer: a browser that
    follows the redirect (or a script that reads right after) sees the write, and a commit that
    fails is an error answer, not a success that vanished. Seen on the demo: after "disable",
    the redirected page still said 在用 (FastAPI ends ``yield`` dependencies after the answer
    unless their scope is "function")."""
    import anyio

    client, url = browser(site), site[1]
    password = new_user(url, "commit_probe")
    answer = token_for(client, "commit_probe", password)
    token_id = client.get("/api/v1/auth/tokens", headers={
        "authorization": f"Bearer {answer['access_token']}"}).json()[0]["id"]
    seen: list[Any] = []

    def revoked_now() -> Any:
        with database(url) as s:
            return s.scalar(sa.select(ApiToken.revoked_at).where(ApiToken.id == token_id))

    async def call() -> None:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                 "method": "DELETE", "scheme": "http", "path": f"/api/v1/auth/tokens/{token_id}",
                 "raw_path": f"/api/v1/auth/tokens/{token_id}".encode(), "query_string": b"",
                 "root_path": "", "client": ("127.0.0.1", 50000), "server": ("testserver", 80),
                 "headers": [(b"host", b"testserver"),
                             (b"authorization", f"Bearer {answer['access_token']}".encode())]}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                seen.append((message["status"], await anyio.to_thread.run_sync(revoked_now)))

        await client.app(scope, receive, send)  # type: ignore[arg-type]

    anyio.run(call)
    assert len(seen) == 1 and seen[0][0] == 204 and seen[0][1] is not None, seen
