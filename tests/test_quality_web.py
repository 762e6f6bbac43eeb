"""三率 page, API and CLI on both databases: charts inline (nothing fetched), targets with
pass/fail, scope by role, ``ctown kpi --json`` and ``ctown kpi probe``."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tests.factories import VILLAGE_A, VILLAGE_B
from tests.webutil import county_site, login
from typer.testing import CliRunner


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, str, Path]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("var")
    with county_site(url, var) as client:
        yield client, url, var


def test_page_has_inline_charts_and_verdicts(site) -> None:  # type: ignore[no-untyped-def]
    client, _url, _var = site
    client.cookies.clear()
    login(client, "admin", "pw-admin-123")
    page = client.get("/quality")
    assert page.status_code == 200
    html = page.text
    assert html.count("<svg") == 4
    assert not re.search(r'(src|href)="https?://', html)  # nothing from outside
    assert "数据采集完整率" in html and "未达标" in html
    english = client.get("/quality?lang=en").text
    assert "Collection completeness" in english
    client.cookies.clear()


def test_scope_and_roles(site) -> None:  # type: ignore[no-untyped-def]
    client, _url, _var = site
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    report = client.get("/api/v1/quality/kpi").json()
    assert [v["code"] for v in report["villages"]] == [VILLAGE_A]
    assert VILLAGE_B not in client.get("/quality").text
    client.cookies.clear()
    login(client, "bank", "pw-bank-123")
    assert client.get("/api/v1/quality/kpi").status_code == 403
    client.cookies.clear()


def test_cli_kpi_json_and_probe(site, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _client, url, var = site
    from ctown.cli import app

    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(var))
    runner = CliRunner()
    probed = runner.invoke(app, ["kpi", "probe"])
    assert probed.exit_code == 0, probed.output
    assert json.loads(probed.output.splitlines()[0])["ok"] is True
    result = runner.invoke(app, ["kpi", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    targets = {t["key"]: t for t in report["targets"]}
    assert set(targets) == {"completeness", "timeliness_4", "timeliness_6", "stability"}
    assert targets["stability"]["value"] == 1.0 and targets["stability"]["passed"] is True
    assert len(report["departments"]) == 12 and len(report["villages"]) == 3
    text = runner.invoke(app, ["kpi"])
    assert text.exit_code == 0 and "PASS" in text.output
