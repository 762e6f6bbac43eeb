"""Privacy through the real app: a bank refused then allowed over the API (the refusal kept in
the farmer's log), the farmer's page, the officer's desk and the auditor's trail, both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.factories import COUNTY, build_county
from tests.webutil import login, make_app_client

from ctown.accounts.roles import Role
from ctown.accounts.service import create_user, issue_token
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.settings import Settings


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var: Path = tmp_path_factory.mktemp("var")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = build_county(session, FieldCipher.load(
            Settings(database_url=url, var_dir=var).keyring_path), households=2, passwords=True)
        county.users["bank"].bank_code = "RCB001"
        for name, role in (("privacy", Role.privacy_officer), ("auditor", Role.evaluator)):
            county.users[name] = create_user(session, username=name, role=role,
                                             region_code=COUNTY, password=f"pw-{name}-123")
        tokens = {k: issue_token(session, u, "test") for k, u in county.users.items()}
        info = {"tokens": tokens, "household": county.users["farmer"].subject_id}
    engine.dispose()
    with make_app_client(url, var) as client:
        yield client, info


def _h(info: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {info['tokens'][who]}"}


def test_bank_refused_then_allowed_and_the_farmer_sees_both(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    hh = info["household"]
    url = f"/api/v1/privacy/credit-report/{hh}"
    refused = client.get(url, params={"purpose": "loan_application"}, headers=_h(info, "bank"))
    assert refused.status_code == 403 and "zh" in refused.json()["detail"]
    r = client.post("/api/v1/privacy/consents", headers=_h(info, "farmer"), json={
        "subject_id": hh, "bank_code": "RCB001", "purpose": "loan_application", "days": 30})
    assert r.status_code == 200, r.text
    allowed = client.get(url, params={"purpose": "loan_application"}, headers=_h(info, "bank"))
    assert allowed.status_code == 200 and allowed.json()["report"]["subject_id"] == hh
    log = client.get("/api/v1/privacy/queries", headers=_h(info, "farmer")).json()
    assert [q["outcome"] for q in log][:2] == ["allowed", "refused"]
    page = client.get("/privacy/me", headers=_h(info, "farmer"))
    assert page.status_code == 200 and "RCB001" in page.text and "未授权，已拒绝" in page.text
    assert "存证回执" in page.text
    bank_page = client.get(f"/privacy/report/{hh}", params={"purpose": "post_loan"},
                           headers=_h(info, "bank"))
    assert bank_page.status_code == 403 and "拒绝" in bank_page.text


def test_forms_with_csrf_reach_the_officers(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    login(client, "farmer", "pw-farmer-123")
    page = client.get("/privacy/me")
    from tests.webutil import csrf_from

    token = csrf_from(page.text)
    r = client.post("/privacy/complaints", data={"text": "公示栏有我的手机号",
                                                 "csrf_token": token})
    assert r.status_code == 303
    r = client.post("/privacy/objections", data={
        "subject_id": info["household"], "reason": "面积有误", "csrf_token": token})
    assert r.status_code == 303
    refused = client.post("/privacy/complaints", data={"text": "x"})  # no CSRF token
    assert refused.status_code == 403 and "表单已过期" in refused.text
    client.cookies.clear()
    desk = client.get("/privacy/officer", headers=_h(info, "privacy"))
    assert desk.status_code == 200 and "公示栏有我的手机号" in desk.text and "面积有误" in desk.text
    assert client.get("/privacy/officer", headers=_h(info, "farmer")).status_code == 403
    complaints = client.get("/api/v1/privacy/complaints", headers=_h(info, "privacy")).json()
    cid = complaints[0]["id"]
    r = client.post(f"/api/v1/privacy/complaints/{cid}/answer", json={"answer": "已处理"},
                    headers=_h(info, "privacy"))
    assert r.status_code == 200 and r.json()["status"] == "answered"


def test_auditor_trail(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    events = client.get("/api/v1/privacy/audit", headers=_h(info, "auditor")).json()
    assert "consent.grant" in {e["action"] for e in events}
    assert client.get("/api/v1/privacy/audit", headers=_h(info, "bank")).status_code == 403
    page = client.get("/privacy/audit", headers=_h(info, "auditor"))
    assert page.status_code == 200 and "consent.grant" in page.text
    r = client.get("/api/v1/privacy/policy", headers=_h(info, "auditor"))
    assert {row["role"] for row in r.json()} >= {"bank_officer", "farmer"}
    headers = client.get("/api/v1/privacy/policy", headers=_h(info, "auditor")).headers
    assert headers.get("x-frame-options") == "DENY"
