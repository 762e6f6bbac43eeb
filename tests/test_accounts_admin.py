"""The administration pages (/admin/users) on both databases: the county adds, changes,
disables, re-enables and resets users and ends their sessions and tokens, every form with CSRF;
a township officer sees their township's users and changes nobody."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import COUNTY, VILLAGE_A, VILLAGE_C
from tests.test_accounts_web import browser, database, me, new_user, token_for
from tests.webutil import county_site, csrf_from, login

from ctown.accounts.models import ApiToken, User, UserSession
from ctown.privacy.models import AuditEvent

HTML = {"accept": "text/html"}
CODE = re.compile(r'<code class="code">([a-z2-9-]+)</code>')


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    with county_site(url, tmp_path_factory.mktemp("admin")) as client:
        login(client, "admin", "pw-admin-123")
        yield client, url
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


def uid(url: str, username: str) -> int:
    with database(url) as s:
        found = s.scalar(sa.select(User.id).where(User.username == username))
    assert found is not None
    return found


def csrf(client: TestClient) -> str:
    return csrf_from(client.get("/account").text)


def test_the_list_filters_and_the_menu_follows_the_table(site) -> None:  # type: ignore[no-untyped-def]
    admin = site[0]
    page = admin.get("/admin/users")
    assert page.status_code == 200 and 'href="/admin/users"' in page.text
    assert "farmer" in page.text and "bank" in page.text
    only = admin.get("/admin/users", params={"role": "village_officer"}).text
    assert ">village<" in only and ">village2<" in only and ">farmer<" not in only
    inside = admin.get("/admin/users", params={"region": VILLAGE_A}).text
    assert ">village<" in inside and ">village2<" not in inside
    farmer = browser(site)
    login(farmer, "farmer", "pw-farmer-123")
    home = farmer.get("/account").text
    assert 'href="/admin/users"' not in home and 'href="/account"' in home
    assert farmer.get("/admin/users", headers=HTML).status_code == 403


def test_a_township_officer_sees_their_township_and_changes_nobody(site) -> None:  # type: ignore[no-untyped-def]
    url = site[1]
    township = browser(site)
    login(township, "township", "pw-township-123")
    page = township.get("/admin/users")
    assert page.status_code == 200 and ">village<" in page.text and ">bank<" not in page.text
    assert "添加用户" not in page.text
    assert township.get(f"/admin/users/{uid(url, 'village')}").status_code == 200
    assert township.get(f"/admin/users/{uid(url, 'bank')}").status_code == 404
    token = csrf(township)
    assert township.post("/admin/users", data={"username": "sneaky", "role": "county_admin",
                                               "region_code": COUNTY,
                                               "csrf_token": token}).status_code == 403
    assert township.post(f"/admin/users/{uid(url, 'village')}/disable",
                         data={"csrf_token": token}).status_code == 403


def test_adding_shows_a_one_time_code_once_and_it_must_be_changed(site) -> None:  # type: ignore[no-untyped-def]
    admin, url = site
    form = {"username": "new_clerk", "role": "village_officer", "region_code": VILLAGE_C,
            "display_name": "新文书"}
    assert admin.post("/admin/users", data=form).status_code == 403  # no CSRF
    made = admin.post("/admin/users", data={**form, "csrf_token": csrf(admin)})
    assert made.status_code == 200 and "新文书" in made.text
    found = CODE.search(made.text)
    assert found, made.text
    code = found.group(1)
    assert code not in admin.get(f"/admin/users/{uid(url, 'new_clerk')}").text
    clerk = browser(site)
    login(clerk, "new_clerk", code)
    assert clerk.get("/households", headers=HTML).headers["location"].startswith(
        "/account/password")
    with database(url) as s:
        event = s.scalar(sa.select(AuditEvent).where(AuditEvent.action == "user.add",
                                                     AuditEvent.target == "user new_clerk"))
        assert event is not None and event.actor_id == uid(url, "admin")
        assert code not in repr(event.detail)


def test_a_refused_addition_says_why(site) -> None:  # type: ignore[no-untyped-def]
    admin = site[0]
    token = csrf(admin)
    unknown = admin.post("/admin/users", data={"username": "x_region", "role": "merchant",
                                               "region_code": "330521999999",
                                               "csrf_token": token})
    assert unknown.status_code == 422 and "330521999999" in unknown.text
    assert 'value="x_region"' in unknown.text  # the form keeps what was typed
    taken = admin.post("/admin/users", data={"username": "village", "role": "merchant",
                                             "region_code": COUNTY, "csrf_token": token})
    assert taken.status_code == 409 and "已存在" in taken.text


def test_change_disable_enable(site) -> None:  # type: ignore[no-untyped-def]
    admin, url = site
    password = new_user(url, "adm_target")
    target = browser(site)
    login(target, "adm_target", password)
    token = token_for(browser(site), "adm_target", password)["access_token"]
    user_id, form = uid(url, "adm_target"), csrf(admin)
    changed = admin.post(f"/admin/users/{user_id}/change", data={
        "role": "bank_officer", "region_code": COUNTY, "bank_code": "RCB001",
        "csrf_token": form})
    assert changed.status_code == 303
    with database(url) as s:
        row = s.get(User, user_id)
        assert row is not None and (row.role, row.bank_code) == ("bank_officer", "RCB001")
    refused = admin.post(f"/admin/users/{user_id}/change", data={
        "role": "insurer", "bank_code": "", "csrf_token": form})
    assert refused.status_code == 422 and "--bank" in refused.text
    assert admin.post(f"/admin/users/{user_id}/disable").status_code == 403  # no CSRF
    assert admin.post(f"/admin/users/{user_id}/disable",
                      data={"csrf_token": form}).status_code == 303
    assert me(target) == 401 and me(browser(site), token) == 401
    assert "已停用" in admin.get(f"/admin/users/{user_id}").text
    assert admin.post(f"/admin/users/{user_id}/enable",
                      data={"csrf_token": form}).status_code == 303
    assert me(target) == 401  # the old session stays ended
    login(target, "adm_target", password)
    assert me(target) == 200


def test_reset_password_shows_a_code_and_ends_everything(site) -> None:  # type: ignore[no-untyped-def]
    admin, url = site
    password = new_user(url, "adm_reset")
    target = browser(site)
    login(target, "adm_reset", password)
    token = token_for(browser(site), "adm_reset", password)["access_token"]
    user_id = uid(url, "adm_reset")
    reset = admin.post(f"/admin/users/{user_id}/reset-password", data={"csrf_token": csrf(admin)})
    found = CODE.search(reset.text)
    assert reset.status_code == 200 and found
    assert me(target) == 401 and me(browser(site), token) == 401
    again = browser(site)
    assert again.post("/api/v1/auth/token", json={"username": "adm_reset",
                                                  "password": password}).status_code == 401
    assert again.post("/api/v1/auth/token", json={"username": "adm_reset",
                                                  "password": found.group(1)}).status_code == 403


def test_the_administrator_ends_sessions_and_revokes_tokens(site) -> None:  # type: ignore[no-untyped-def]
    admin, url = site
    password = new_user(url, "adm_sessions")
    one, two = browser(site), browser(site)
    login(one, "adm_sessions", password)
    login(two, "adm_sessions", password)
    token = token_for(browser(site), "adm_sessions", password)["access_token"]
    user_id = uid(url, "adm_sessions")
    page = admin.get(f"/admin/users/{user_id}").text
    with database(url) as s:
        first = s.scalar(sa.select(UserSession.id).where(UserSession.user_id == user_id)
                         .order_by(UserSession.id))
        token_id = s.scalar(sa.select(ApiToken.id).where(ApiToken.user_id == user_id))
    assert f"/sessions/{first}/end" in page and f"/tokens/{token_id}/revoke" in page
    form = {"csrf_token": csrf_from(page)}
    assert admin.post(f"/admin/users/{user_id}/sessions/{first}/end",
                      data=form).status_code == 303
    assert me(one) == 401 and me(two) == 200
    assert admin.post(f"/admin/users/{user_id}/tokens/{token_id}/revoke",
                      data=form).status_code == 303
    assert me(browser(site), token) == 401
    assert admin.post(f"/admin/users/{user_id}/sessions/end-all", data=form).status_code == 303
    assert me(two) == 401
    assert admin.post(f"/admin/users/{user_id}/tokens/{token_id}/revoke",
                      data=form).status_code == 404  # already revoked
