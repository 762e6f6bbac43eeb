"""The web shell and API on both databases: login, CSRF, lock-out, scope, masking, languages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import VILLAGE_A, VILLAGE_B, build_county, people_frame
from tests.webutil import csrf_from, login, make_app_client

from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.registry.models import Subject


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, int]]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("var")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(var / "keys.json"), households=30, passwords=True)
        ids = {"a": session.scalar(sa.select(Subject.id).where(
                   Subject.kind == "household", Subject.region_code == VILLAGE_A).order_by(Subject.id)),
               "b": session.scalar(sa.select(Subject.id).where(
                   Subject.kind == "household", Subject.region_code == VILLAGE_B).order_by(Subject.id))}
    engine.dispose()
    with make_app_client(url, var) as client:
        yield client, ids


def test_healthz(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    assert client.get("/healthz").json()["status"] == "ok"


def test_pages_need_login(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    client.cookies.clear()
    response = client.get("/households", headers={"accept": "text/html"})
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
    assert client.get("/api/v1/subjects").status_code == 401


def test_login_without_csrf_is_refused(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    client.cookies.clear()
    client.get("/login")
    response = client.post("/login", data={"username": "admin", "password": "pw-admin-123"})
    assert response.status_code == 403


def test_village_officer_sees_own_village_only(site) -> None:  # type: ignore[no-untyped-def]
    client, ids = site
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    page = client.get("/households")
    assert page.status_code == 200 and "五四村" in page.text and "三林村" not in page.text
    assert client.get(f"/households/{ids['a']}").status_code == 200
    assert client.get(f"/households/{ids['b']}").status_code == 404
    assert client.get(f"/api/v1/subjects/{ids['b']}").status_code == 404
    assert client.get("/api/v1/subjects", params={"region": VILLAGE_B}).json()["total"] == 0


def test_household_page_masks_identifiers_for_county_admin(site) -> None:  # type: ignore[no-untyped-def]
    client, ids = site
    client.cookies.clear()
    login(client, "admin", "pw-admin-123")
    html = client.get(f"/households/{ids['a']}").text
    rid = people_frame(1, VILLAGE_A)["resident_id"][0]
    assert rid not in html and (rid[:4] + "*" * 10 + rid[-4:]) in html


def test_search_by_resident_id_uses_blind_index(site) -> None:  # type: ignore[no-untyped-def]
    client, ids = site
    client.cookies.clear()
    login(client, "admin", "pw-admin-123")
    spouse = people_frame(1, VILLAGE_A)["resident_id"][1]
    found = client.get("/api/v1/subjects", params={"q": spouse.lower()}).json()
    assert found["total"] == 1 and found["items"][0]["id"] == ids["a"]


def test_paging(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    client.cookies.clear()
    login(client, "admin", "pw-admin-123")
    first = client.get("/api/v1/subjects").json()
    second = client.get("/api/v1/subjects", params={"page": 2}).json()
    assert first["total"] == 90 and len(first["items"]) == 50 and len(second["items"]) == 40
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}


def test_english_switch(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    client.cookies.clear()
    assert "登录" in client.get("/login").text
    assert "Log in" in client.get("/login?lang=en").text
    assert "Log in" in client.get("/login").text  # remembered in a cookie


def test_api_token_and_lockout(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    client.cookies.clear()
    good = client.post("/api/v1/auth/token", json={"username": "bank", "password": "pw-bank-123"})
    token = good.json()["access_token"]
    me = client.get("/api/v1/me", headers={"authorization": f"Bearer {token}"}).json()
    assert me["role"] == "bank_officer"
    for _ in range(5):
        bad = client.post("/api/v1/auth/token", json={"username": "township", "password": "x"})
        assert bad.status_code == 401
    locked = client.post("/api/v1/auth/token",
                         json={"username": "township", "password": "pw-township-123"})
    assert locked.status_code == 401 and "minutes" in locked.json()["detail"]["en"]


def test_logout_needs_csrf(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    client.cookies.clear()
    login(client, "farmer", "pw-farmer-123")
    home = client.get("/account")  # "/" sends the farmer on to /farmer (ctown.farmer)
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", data={"csrf_token": csrf_from(home.text)}).status_code == 303
