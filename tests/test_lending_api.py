"""The lending API and pages through the real app (token and cookie clients), both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.webutil import csrf_from, login, make_app_client

from ctown.accounts.security import hash_password
from ctown.accounts.service import issue_token
from ctown.db import make_engine, session_factory
from ctown.lending import notices, sample
from ctown.lending.models import Notice


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var: Path = tmp_path_factory.mktemp("var")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = sample.build(session)
        tokens = {k: issue_token(session, u, "test") for k, u in county.users.items()}
        for key in ("farmer", "village"):
            county.users[key].password_hash = hash_password(f"pw-{key}-123")
        info = {"tokens": tokens, "households": county.households}
    engine.dispose()
    with make_app_client(url, var) as client:
        yield client, info
        engine = client.app.state.engine  # type: ignore[attr-defined]
        notices.wait_sent(engine)
        engine.dispose()


def _h(info: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {info['tokens'][who]}"}


def test_decision_walk_and_loan_over_the_api(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    body = {"product_code": "rcb_credit", "amount": "60000", "term_months": 12,
            "method": "equal_instalment"}
    r = client.post("/api/v1/lending/decisions", json=body, headers=_h(info, "farmer"))
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["eligible"] and d["preapproved"] and d["state"] == "submitted"
    assert d["offer"]["rate_pct"] == "3.04" and len(d["offer"]["schedule"]) == 12
    assert sum(float(x["principal"]) for x in d["offer"]["schedule"]) == pytest.approx(60000)
    app_id = d["application_id"]
    skip = client.post(f"/api/v1/lending/applications/{app_id}/actions",
                       json={"action": "bank_approve"}, headers=_h(info, "bank"))
    assert skip.status_code == 403 and "zh" in skip.json()["detail"]
    for who, action in (("village", "village_approve"), ("township", "township_approve"),
                        ("bank", "bank_approve")):
        r = client.post(f"/api/v1/lending/applications/{app_id}/actions",
                        json={"action": action}, headers=_h(info, who))
        assert r.status_code == 200, r.text
    again = client.post(f"/api/v1/lending/applications/{app_id}/actions",
                        json={"action": "bank_approve"}, headers=_h(info, "bank"))
    assert again.status_code == 403
    detail = client.get(f"/api/v1/lending/applications/{app_id}", headers=_h(info, "farmer"))
    assert [t["action"] for t in detail.json()["transitions"]] == [
        "submit", "village_approve", "township_approve", "bank_approve"]
    loan = client.post(f"/api/v1/lending/applications/{app_id}/disburse",
                       headers=_h(info, "bank"))
    assert loan.status_code == 200, loan.text
    loan_id = loan.json()["id"]
    first = loan.json()["instalments"][0]["amount"]
    paid = client.post(f"/api/v1/lending/loans/{loan_id}/repayments",
                       json={"amount": first}, headers=_h(info, "bank"))
    assert paid.status_code == 200 and paid.json()["instalments"][0]["paid"] == first
    page = client.get(f"/lending/loans/{loan_id}", headers=_h(info, "farmer"))
    assert page.status_code == 200 and "还款计划" in page.text
    assert client.get(f"/api/v1/lending/loans/{loan_id}",
                      headers=_h(info, "farmer_c")).status_code == 404


def test_proxy_applies_and_declined_can_ask_a_person(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    hid = info["households"][sample.VILLAGE][1]
    r = client.post("/api/v1/lending/decisions", headers=_h(info, "proxy"), json={
        "subject_id": hid, "product_code": "rcb_credit", "amount": "20000", "term_months": 6,
        "method": "interest_first"})
    assert r.status_code == 200 and r.json()["state"] == "submitted"
    e1 = info["households"][sample.VILLAGE][3]
    r = client.post("/api/v1/lending/decisions", headers=_h(info, "village"), json={
        "subject_id": e1, "product_code": "rcb_credit", "amount": "20000", "term_months": 6,
        "method": "interest_first"})
    d = r.json()
    assert not d["eligible"] and d["review_url"] and d["reasons"]
    r = client.post(d["review_url"], json={"action": "request_review"},
                    headers=_h(info, "village"))
    assert r.json()["state"] == "review_requested"
    queue = client.get("/api/v1/lending/queue", headers=_h(info, "bank")).json()
    assert d["application_id"] in [a["id"] for a in queue]
    forbidden = client.post("/api/v1/lending/decisions", headers=_h(info, "township"), json={
        "subject_id": e1, "product_code": "rcb_credit", "amount": "1", "term_months": 6})
    assert forbidden.status_code == 403


def test_grant_preview_grant_print_and_figures(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    prev = client.get(f"/api/v1/lending/villages/{sample.VILLAGE}/grant-preview",
                      headers=_h(info, "bank")).json()
    assert prev["summary"]["households"] == 12 and len(prev["rows"]) == 12
    g = client.post(f"/api/v1/lending/villages/{sample.VILLAGE}/grants",
                    json={"product_code": "rcb_credit"}, headers=_h(info, "bank"))
    assert g.status_code == 200 and g.json()["granted"] == 9
    page = client.get(f"/lending/grants/{g.json()['id']}/print", headers=_h(info, "village"))
    assert page.status_code == 200 and "整村授信名单" in page.text
    assert client.get(f"/lending/villages/{sample.VILLAGE}/grant",
                      headers=_h(info, "bank")).status_code == 200
    fig = client.get("/api/v1/lending/figures", headers=_h(info, "admin")).json()
    assert fig["county"]["loans"] >= 1 and fig["county"]["credit_loan_share"] == 1.0
    assert client.get("/lending/figures", headers=_h(info, "admin")).status_code == 200
    for path in ("/lending", "/lending/apply"):
        assert client.get(path, headers=_h(info, "farmer")).status_code == 200


def test_notices_were_sent_after_commit(site) -> None:  # type: ignore[no-untyped-def]
    client, _info = site
    engine = client.app.state.engine  # type: ignore[attr-defined]
    notices.wait_sent(engine)
    with session_factory(engine)() as session:
        unsent = session.scalar(sa.select(sa.func.count()).select_from(Notice).where(
            Notice.sent_at.is_(None)))
        assert unsent == 0


def test_the_form_for_an_elderly_farmer_and_the_review_page(site) -> None:  # type: ignore[no-untyped-def]
    client, _info = site
    client.cookies.clear()
    login(client, "t_farmer", "pw-farmer-123")
    form = client.get("/lending/apply")
    assert form.status_code == 200 and "想借多少钱" in form.text
    r = client.post("/lending/apply", data={
        "csrf_token": csrf_from(form.text), "product_code": "rcb_credit", "amount": "30,000",
        "term_months": "12", "method": "equal_instalment", "subject_id": ""})
    assert r.status_code == 200, r.text
    assert "已预批准" in r.text and "3.04%" in r.text
    no_csrf = client.post("/lending/apply", data={"product_code": "rcb_credit",
                                                  "amount": "1000", "term_months": "12"})
    assert no_csrf.status_code == 403
    english = client.get("/lending/apply?lang=en")
    assert "How much to borrow" in english.text
    client.cookies.clear()
    login(client, "t_village", "pw-village-123")
    home = client.get("/lending")
    assert "待我审批" in home.text
    app_id = int(home.text.split('/lending/applications/')[1].split('"')[0])
    page = client.get(f"/lending/applications/{app_id}")
    r = client.post(f"/lending/applications/{app_id}/action",
                    data={"csrf_token": csrf_from(page.text), "action": "village_approve"})
    assert r.status_code == 303
    assert "待乡镇审核" in client.get(f"/lending/applications/{app_id}").text
    client.cookies.clear()
