"""The ledger API through the real app: public checkpoint, proofs for logged-in users, receipts
following the record's scope, all verifiable with the standalone verifier."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from tests.factories import COUNTY, VILLAGE_B, build_county
from tests.webutil import make_app_client

from ctown.accounts.roles import Role
from ctown.accounts.service import create_user, issue_token
from ctown.crypto import FieldCipher
from ctown.db import make_engine, session_factory
from ctown.ledger import tasks
from ctown.ledger.verifier import check_checkpoint, check_proof, check_receipt
from ctown.registry.models import ChangeEvent, Subject
from ctown.settings import Settings


@pytest.fixture(scope="module")
def site(db_factory, tmp_path_factory) -> Iterator[tuple[TestClient, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    url = db_factory.migrated_url()
    var: Path = tmp_path_factory.mktemp("var")
    settings = Settings(database_url=url, var_dir=var)
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = build_county(session, FieldCipher.load(settings.keyring_path))
        county.users["auditor"] = create_user(session, username="auditor", role=Role.evaluator,
                                              region_code=COUNTY, password=None)
        tokens = {k: issue_token(session, u, "test") for k, u in county.users.items()}
        tasks.append_all(session, settings)
        own = session.scalar(sa.select(ChangeEvent.id).where(
            ChangeEvent.subject_id == county.users["farmer"].subject_id).order_by(ChangeEvent.id))
        other_household = session.scalar(sa.select(Subject.id).where(
            Subject.kind == "household", Subject.region_code == VILLAGE_B))
        other = session.scalar(sa.select(ChangeEvent.id).where(
            ChangeEvent.subject_id == other_household))
    engine.dispose()
    with make_app_client(url, var) as client:
        yield client, {"tokens": tokens, "own": own, "other": other}


def _h(info: dict[str, Any], who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {info['tokens'][who]}"}


def test_checkpoint_is_public_and_verifies(site) -> None:  # type: ignore[no-untyped-def]
    client, _info = site
    body = client.get("/api/v1/ledger/checkpoint").json()
    assert body["size"] > 0 and body["hash"] == "sha256"
    note = client.get("/api/v1/ledger/checkpoint", params={"format": "note"}).text
    cp = check_checkpoint(note, body["vkey"])
    assert cp.size == body["size"] and cp.root_hash.hex() == body["root"]
    assert client.get("/api/v1/ledger/key").json()["vkey"] == body["vkey"]


def test_proofs_need_a_login_and_verify(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    assert client.get("/api/v1/ledger/proof/inclusion", params={"leaf_index": 0}).status_code \
        == 401
    size = client.get("/api/v1/ledger/checkpoint").json()["size"]
    r = client.get("/api/v1/ledger/proof/inclusion",
                   params={"leaf_index": size - 1, "tree_size": size}, headers=_h(info, "bank"))
    assert r.status_code == 200 and check_proof(r.json())
    r = client.get("/api/v1/ledger/proof/inclusion",
                   params={"kind": "change_event", "ref": info["own"]}, headers=_h(info, "bank"))
    assert r.status_code == 200 and check_proof(r.json())
    r = client.get("/api/v1/ledger/proof/consistency", params={"first": 3, "second": size},
                   headers=_h(info, "bank"))
    assert r.status_code == 200 and check_proof(r.json())
    r = client.get("/api/v1/ledger/proof/inclusion", params={"leaf_index": size + 5},
                   headers=_h(info, "bank"))
    assert r.status_code == 422
    r = client.get("/api/v1/ledger/proof/consistency", params={"first": 0, "second": size},
                   headers=_h(info, "bank"))
    assert r.status_code == 422  # a proof from the empty tree vouches for nothing


def test_receipts_follow_the_records_scope(site) -> None:  # type: ignore[no-untyped-def]
    client, info = site
    own = client.get("/api/v1/ledger/proof/inclusion",
                     params={"kind": "change_event", "ref": info["own"]},
                     headers=_h(info, "farmer")).json()["leaf_index"]
    other = client.get("/api/v1/ledger/proof/inclusion",
                       params={"kind": "change_event", "ref": info["other"]},
                       headers=_h(info, "farmer")).json()["leaf_index"]
    vkey = client.get("/api/v1/ledger/key").json()["vkey"]
    r = client.get(f"/api/v1/ledger/receipt/{own}", headers=_h(info, "farmer"))
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"]
    assert check_receipt(r.json(), vkey).valid
    assert client.get(f"/api/v1/ledger/receipt/{other}",
                      headers=_h(info, "farmer")).status_code == 404
    r = client.get(f"/api/v1/ledger/receipt/{other}", headers=_h(info, "auditor"))
    assert r.status_code == 200 and check_receipt(r.json(), vkey).valid
