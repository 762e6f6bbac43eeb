"""Push API and pages on both databases: per-department keys (``ctown.ingest.feeds``), re-sends,
per-row answers, the credit file (JSON and page), the quarantine and identity-confirmation
pages."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ctown.accounts.service import create_user
from ctown.db import make_engine, session_factory, transaction
from ctown.ingest.feeds import add_department, issue_key
from ctown.ingest.service import load_file
from ctown.registry.tasks import resolve
from test_ingest_support import (
    HEAD1,
    HEAD2,
    V1,
    cipher_at,
    consent_all,
    seed_regions,
    write_county,
)
from webutil import csrf_from, login, make_app_client


@pytest.fixture(scope="module")
def world(db_factory: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[dict[str, Any]]:
    """One database per backend for the module (users' password hashing is slow on purpose)."""
    tmp_path = tmp_path_factory.mktemp("ingest_api")
    url = db_factory.migrated_url()
    var = tmp_path / "var"
    var.mkdir()
    county = write_county(tmp_path / "county")
    cipher = cipher_at(var)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as s:
        seed_regions(s)
        load_file(s, cipher, county / "psb" / "psb_1.csv", "psb")
        consent_all(s)
        load_file(s, cipher, county / "hrss" / "hrss_1.json", "hrss")
        for code, name in (("bank", "县农商银行"), ("tax", "县税务局")):
            add_department(s, None, code=code, name=name)
        create_user(s, username="admin", password="admin", role="county_admin",
                    region_code="330521000000")
        create_user(s, username="village2", password="village2", role="village_officer",
                    region_code="330521100002")
        tokens = {"bank": issue_key(s, None, "bank").key, "tax": issue_key(s, None, "tax").key}
        hh = resolve(s, cipher, "resident_id", [HEAD1], "household")[HEAD1]
        create_user(s, username="farmer", password="farmer", role="farmer",
                    region_code="330521100001", subject_id=hh)
    engine.dispose()
    client = make_app_client(url, var)
    yield {"client": client, "tokens": tokens, "household": hh}
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


ROWS = [
    {"客户证件号码": HEAD1, "客户名称": "张三", "贷款余额（元）": "20,000", "数据日期": "2025-06-30",
     "五级分类": "正常"},
    {"客户证件号码": HEAD1[:17] + "0" if HEAD1[17] != "0" else HEAD1[:17] + "1",
     "贷款余额（元）": "1"},
    {"客户证件号码": HEAD2, "贷款余额（元）": "5000", "数据日期": "2025-06-30"},
    {"客户证件号码": HEAD2, "贷款余额（元）": "5000", "数据日期": "2025-06-30"},
    "not an object",
]


def _push(client: TestClient, token: str, dept: str, batch_id: str, rows: list[Any]) -> Any:
    return client.post(f"/api/v1/feeds/{dept}/batches", json={"batch_id": batch_id, "rows": rows},
                       headers={"Authorization": f"Bearer {token}"})


def test_push_answers_every_row_and_resend_is_a_no_op(world: dict[str, Any]) -> None:
    client, token = world["client"], world["tokens"]["bank"]
    first = _push(client, token, "bank", "2025-06-b1", ROWS)
    assert first.status_code == 200, first.text
    body = first.json()
    assert [r["status"] for r in body["rows"]] == ["accepted", "quarantined", "accepted",
                                                  "duplicate", "quarantined"]
    assert [r["index"] for r in body["rows"]] == [0, 1, 2, 3, 4]
    reason = body["rows"][1]["reasons"][0]
    assert reason["column"] == "客户证件号码" and "校验位" in reason["zh"]
    assert "check character" in reason["en"]
    assert body["received"] == 5 == body["accepted"] + body["quarantined"] + body["duplicates"]
    assert body["resent"] is False
    again = _push(client, token, "bank", "2025-06-b1", ROWS[:1])
    assert again.status_code == 200
    assert again.json()["resent"] is True
    assert again.json()["rows"] == body["rows"]


def test_push_with_another_departments_key_is_refused(world: dict[str, Any]) -> None:
    client = world["client"]
    refused = _push(client, world["tokens"]["tax"], "bank", "x1", ROWS[:1])
    assert refused.status_code == 403
    assert "本部门" in refused.json()["detail"]["zh"]
    assert _push(client, "ctk_not_a_token", "bank", "x1", ROWS[:1]).status_code == 401
    assert _push(client, "ctd_not_a_key", "bank", "x1", ROWS[:1]).status_code == 401
    login(client, "admin", "admin")  # a person's session is not a feed key
    refused = client.post("/api/v1/feeds/bank/batches", json={"batch_id": "x", "rows": []},
                          headers={"X-CSRF-Token": "x"})
    assert refused.status_code == 403 and "部门密钥" in refused.json()["detail"]["zh"]
    client.cookies.clear()


def test_credit_file_api_and_page(world: dict[str, Any]) -> None:
    client, hh = world["client"], world["household"]
    row = {**ROWS[0], "贷款余额（元）": "２０,０００", "数据日期": "2025年7月31日"}
    assert _push(client, world["tokens"]["bank"], "bank", "b2", [row]).status_code == 200
    # Outstanding loans are "core" (ctown.masking): the county admin sees them masked,
    # the household itself in clear.
    login(client, "admin", "admin")
    masked = client.get(f"/api/v1/subjects/{hh}/credit-file").json()
    assert next(i for i in masked["indicators"] if i["code"] == "I0501")["current"][
        "value"] == "1万–10万"
    login(client, "farmer", "farmer")
    data = client.get(f"/api/v1/subjects/{hh}/credit-file").json()
    loan = next(i for i in data["indicators"] if i["code"] == "I0501")
    assert loan["current"]["value"] == 20000 and loan["current"]["department"] == "bank"
    assert loan["current"]["source"] == "api:b2"
    past = client.get(f"/api/v1/subjects/{hh}/credit-file?as_of=2000-01-01").json()
    assert all(i["current"] is None for i in past["indicators"])
    page = client.get(f"/subjects/{hh}/credit-file")
    assert page.status_code == 200 and "I0501" in page.text and "20,000" in page.text


def test_credit_file_is_scoped(world: dict[str, Any]) -> None:
    client = world["client"]
    login(client, "village2", "village2")  # another village: the household does not exist
    assert client.get(f"/api/v1/subjects/{world['household']}/credit-file").status_code == 404


def test_quarantine_and_matches_pages(world: dict[str, Any]) -> None:
    client = world["client"]
    login(client, "admin", "admin")
    page = client.get("/ingest/quarantine?department=psb")
    assert page.status_code == 200 and "科学计数法" in page.text
    matches = client.get("/ingest/matches")
    assert matches.status_code == 200 and V1 in matches.text
    token = csrf_from(matches.text)
    match_id = int(matches.text.split('action="/ingest/matches/')[1].split('"')[0])
    done = client.post(f"/ingest/matches/{match_id}",
                       data={"decision": "confirm", "csrf_token": token})
    assert done.status_code == 303
    assert "没有待确认的身份" in client.get("/ingest/matches").text
    assert client.get("/ingest/batches").status_code == 200


def test_a_quarantined_row_fixed_and_replayed_from_its_page(world: dict[str, Any]) -> None:
    """The fix form (its ``col:*`` fields are read by an async handler; the database work runs
    in a worker thread): the corrected row is replayed and leaves the quarantine."""
    import sqlalchemy as sa

    from ctown.ingest.models import QuarantinedRow

    client = world["client"]
    bad = dict(ROWS[1])  # an ID that fails its check digit
    assert _push(client, world["tokens"]["bank"], "bank", "fix-1", [bad]).json()["quarantined"] == 1
    engine = world["client"].app.state.engine
    with engine.connect() as conn:
        row_id = conn.scalar(sa.select(sa.func.max(QuarantinedRow.id)).where(
            QuarantinedRow.department == "bank", QuarantinedRow.status == "open"))
    login(client, "admin", "admin")
    page = client.get(f"/ingest/quarantine/{row_id}")
    assert page.status_code == 200
    done = client.post(f"/ingest/quarantine/{row_id}/fix", data={
        "csrf_token": csrf_from(page.text), "col:客户证件号码": HEAD1, "col:数据日期": "2025-07-31",
        "replay": "1"})
    assert done.status_code == 303 and done.headers["location"].endswith("done=replayed")
    with engine.connect() as conn:
        status = conn.scalar(sa.select(QuarantinedRow.status).where(QuarantinedRow.id == row_id))
    assert status == "replayed", status
