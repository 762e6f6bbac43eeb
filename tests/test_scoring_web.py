"""Scoring pages and API: a subject's grade and reasons in scope, the validation report and its
download, sign-off through the web by three roles, go-live by the county admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import COUNTY, VILLAGE_A, VILLAGE_B, build_county
from tests.webutil import csrf_from, login, make_app_client

from ctown.accounts.service import create_user
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.registry.models import Subject
from ctown.scoring import review, tasks


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, int]]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("var")
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        build_county(session, FieldCipher.load(var / "keys.json"), households=2, passwords=True)
        create_user(session, username="auditor", password="pw-auditor-123", role="evaluator",
                    region_code=COUNTY)
        tasks.score_all(session)
        version = review.register_version(
            session, actor=None, algorithm="woe-scorecard", fingerprint="f" * 64,
            metrics={"auc": 0.8, "ks": 0.45}, artifact={}, features=["I0504"])
        ids = {"version": version.id, **{code: session.scalar(
            sa.select(Subject.id).where(Subject.kind == "household",
                                        Subject.region_code == code).limit(1))
            for code in (VILLAGE_A, VILLAGE_B)}}
    engine.dispose()
    with make_app_client(url, var) as client:
        yield client, ids
    client.app.state.engine.dispose()  # type: ignore[attr-defined]


def _as(client: TestClient, name: str) -> None:
    client.cookies.clear()
    login(client, name, f"pw-{name}-123")


def test_grade_page_and_api_follow_scope(site) -> None:  # type: ignore[no-untyped-def]
    client, ids = site
    _as(client, "village")
    page = client.get(f"/scoring/subjects/{ids[VILLAGE_A]}")
    assert page.status_code == 200 and "原因与改进建议" in page.text
    grade = client.get(f"/api/v1/scoring/subjects/{ids[VILLAGE_A]}/grade").json()
    assert grade["grade"][0] in "ABCDE" and grade["reasons"]
    assert client.get(f"/api/v1/scoring/subjects/{ids[VILLAGE_B]}/grade").status_code == 404
    assert client.get("/scoring").status_code == 403  # village officers do not review models
    english = client.get(f"/scoring/subjects/{ids[VILLAGE_A]}?lang=en").text
    assert "Reasons and how to improve" in english


def test_three_party_signoff_through_the_web(site) -> None:  # type: ignore[no-untyped-def]
    client, ids = site
    vid = ids["version"]
    for name in ("bank", "township", "auditor"):
        _as(client, name)
        page = client.get(f"/scoring/models/{vid}")
        assert page.status_code == 200
        done = client.post(f"/scoring/models/{vid}/sign",
                           data={"statement": "ok", "csrf_token": csrf_from(page.text)})
        assert done.status_code == 303
    _as(client, "bank")
    token = csrf_from(client.get(f"/scoring/models/{vid}").text)
    again = client.post(f"/api/v1/scoring/models/{vid}/signoffs", json={"statement": "again"},
                        headers={"X-CSRF-Token": token})
    assert again.status_code == 409
    refused = client.post(f"/api/v1/scoring/models/{vid}/activate",
                          headers={"X-CSRF-Token": token})
    assert refused.status_code == 403
    _as(client, "admin")
    token = csrf_from(client.get(f"/scoring/models/{vid}").text)
    live = client.post(f"/api/v1/scoring/models/{vid}/activate", headers={"X-CSRF-Token": token})
    assert live.status_code == 200 and live.json()["status"] == "live"
    report = client.get(f"/scoring/models/{vid}/report.json")
    assert report.headers["content-disposition"].startswith("attachment")
    body = report.json()
    assert body["auc"] == 0.8 and len(body["signoffs"]) == 3 and body["missing_signoffs"] == []
    assert sum(body["grade_distribution"].values()) > 0
