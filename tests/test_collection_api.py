"""Collection points over HTTP and the CLI, on both databases: upload, refusals with reasons that
stay logged, browser enrolment with CSRF, the terminal page, and the terminal-side CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from tests.factories import VILLAGE_A
from tests.webutil import county_site, csrf_from, login
from typer.testing import CliRunner

from ctown.collection import keys, protocol
from ctown.collection.models import CollectionBatch, Terminal, UploadLog
from ctown.collection.protocol import Record
from ctown.db import make_engine, session_factory
from ctown.settings import Settings

HOUSEHOLD = f"H{VILLAGE_A[-6:]}00000"


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, str, Path]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var = tmp_path_factory.mktemp("var")
    with county_site(url, var) as client:
        yield client, url, var


def count(url: str, model: type, *where: object) -> int:
    engine = make_engine(url)
    with session_factory(engine)() as s:
        n = s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0
    engine.dispose()
    return n


def enrolled_key(client: TestClient) -> Ed25519PrivateKey:
    """Enrol a new key the way the browser does (village officer, cookie + CSRF header)."""
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    token = csrf_from(client.get("/collection/form").text)
    key = Ed25519PrivateKey.generate()
    reply = client.post("/api/v1/collection/enrol", headers={"x-csrf-token": token},
                        json={"public_key": protocol.b64e(protocol.raw_public(key.public_key())),
                              "name": "测试手机"})
    assert reply.status_code == 200, reply.text
    assert reply.json()["terminal"]["village_code"] == VILLAGE_A
    client.cookies.clear()
    return key


def county_public(client: TestClient):  # type: ignore[no-untyped-def]
    return protocol.parse_x25519_public(client.get("/api/v1/collection/county-key")
                                        .json()["public_key"])


def test_enrol_needs_csrf_and_the_village_role(site) -> None:  # type: ignore[no-untyped-def]
    client, _url, _var = site
    key = protocol.b64e(protocol.raw_public(Ed25519PrivateKey.generate().public_key()))
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    assert client.post("/api/v1/collection/enrol", json={"public_key": key}).status_code == 403
    client.cookies.clear()
    login(client, "bank", "pw-bank-123")
    token = csrf_from(client.get("/").text)
    assert client.post("/api/v1/collection/enrol", json={"public_key": key},
                       headers={"x-csrf-token": token}).status_code == 403
    client.cookies.clear()


def test_upload_is_accepted_once_and_refusals_stay_logged(site) -> None:  # type: ignore[no-untyped-def]
    client, url, _var = site
    key = enrolled_key(client)
    envelope = protocol.pack([Record(HOUSEHOLD, "I1101", "2", "2026-11-01", "王")],
                             terminal_key=key, county_key=county_public(client))
    first = client.post("/api/v1/collection/batches", content=envelope)
    assert first.status_code == 200, first.text
    assert first.json()["accepted"] == 1
    again = client.post("/api/v1/collection/batches", content=envelope)
    assert again.status_code == 409
    body = again.json()
    assert body["code"] == "replay" and body["already_accepted"] is True
    assert body["reason"]["zh"] and body["reason"]["en"].startswith("Batch")
    junk = client.post("/api/v1/collection/batches", content=b"\x00garbage")
    assert junk.status_code == 400 and junk.json()["code"] == "malformed"
    huge = client.post("/api/v1/collection/batches",
                       content=b"{" + b" " * (protocol.MAX_ENVELOPE_BYTES + 10))
    assert huge.status_code == 413 and huge.json()["code"] == "too_large"
    stranger = protocol.pack([], terminal_key=Ed25519PrivateKey.generate(),
                             county_key=county_public(client))
    assert client.post("/api/v1/collection/batches", content=stranger).status_code == 403
    # The refusals were committed although the requests failed.
    assert count(url, UploadLog, UploadLog.outcome == "refused") >= 4
    assert count(url, CollectionBatch) >= 1


def test_terminal_page_register_and_revoke(site) -> None:  # type: ignore[no-untyped-def]
    client, url, _var = site
    client.cookies.clear()
    login(client, "village", "pw-village-123")
    # A village officer sees its village's terminals, as the API lists them; no managing.
    page = client.get("/collection/terminals")
    listed = client.get("/api/v1/collection/terminals").json()
    assert page.status_code == 200 and all(t["id"] in page.text for t in listed)
    assert "/revoke" not in page.text and 'action="/collection/terminals"' not in page.text
    assert client.post("/collection/terminals", data={
        "public_key": "x", "village_code": VILLAGE_A, "csrf_token": csrf_from(page.text)
    }).status_code == 403
    client.cookies.clear()
    login(client, "admin", "pw-admin-123")
    page = client.get("/collection/terminals")
    assert page.status_code == 200 and "collection_terminals" not in page.text
    public = protocol.b64e(protocol.raw_public(Ed25519PrivateKey.generate().public_key()))
    reply = client.post("/collection/terminals", data={
        "public_key": public, "village_code": VILLAGE_A, "name": "村部电脑",
        "csrf_token": csrf_from(page.text)})
    assert reply.status_code == 200 and "村部电脑" in reply.text
    terminal_id = protocol.terminal_id_for(protocol.b64d(public))
    reply = client.post(f"/collection/terminals/{terminal_id}/revoke",
                        data={"reason": "遗失", "csrf_token": csrf_from(reply.text)})
    assert reply.status_code == 303
    assert count(url, Terminal, Terminal.id == terminal_id, Terminal.revoked_at.is_not(None)) == 1
    client.cookies.clear()


def test_cli_keygen_pack_register_upload(site, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _client, url, var = site
    from ctown.cli import app

    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(var))
    runner = CliRunner()
    keyfile = tmp_path / "terminal.key"
    made = runner.invoke(app, ["collect", "keygen", "--out", str(keyfile)])
    assert made.exit_code == 0, made.output
    assert keyfile.stat().st_mode & 0o777 == 0o600
    county = runner.invoke(app, ["collect", "county-key", "--out", str(tmp_path / "county.pub")])
    assert county.exit_code == 0, county.output
    assert (var / keys.KEY_FILE).stat().st_mode & 0o777 == 0o600
    reg = runner.invoke(app, ["collect", "register", "--public-key", str(keyfile) + ".pub",
                              "--village", VILLAGE_A, "--name", "CLI 终端"])
    assert reg.exit_code == 0, reg.output
    csv = tmp_path / "records.csv"
    csv.write_text("主体标识,指标代码,值,观测日期,采集员\n"
                   f"{HOUSEHOLD},I1104,85,2026-11-02,王\n{HOUSEHOLD},I1104,101,2026-11-02,王\n",
                   encoding="gb18030")
    batch = tmp_path / "batch.ctb"
    packed = runner.invoke(app, ["collect", "pack", "--terminal-key", str(keyfile),
                                 "--county-key", str(tmp_path / "county.pub"),
                                 "--in", str(csv), "--out", str(batch)])
    assert packed.exit_code == 0, packed.output
    assert "王" not in batch.read_text()  # nothing readable on the way
    uploaded = runner.invoke(app, ["collect", "upload", str(batch)])
    assert uploaded.exit_code == 0, uploaded.output
    result = json.loads(uploaded.output.strip().splitlines()[-1])
    assert (result["accepted"], result["rejected"]) == (1, 1)
    replay = runner.invoke(app, ["collect", "upload", str(batch)])
    assert replay.exit_code == 1 and '"replay"' in replay.output


def test_county_key_file_is_stable(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    assert keys.county_public_text(settings) == keys.county_public_text(settings)
    assert (tmp_path / keys.KEY_FILE).stat().st_mode & 0o777 == 0o600
