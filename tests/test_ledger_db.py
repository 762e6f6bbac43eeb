"""The database-backed ledger on SQLite and PostgreSQL: appending change events, proofs and
receipts that verify offline, and a database edited behind the platform's back being caught."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ctown.ledger import integrity, merkle, receipts, service, tasks
from ctown.ledger.note import Verifier, open_checkpoint
from ctown.ledger.verifier import check_proof, check_receipt
from ctown.registry.models import ChangeEvent
from ctown.registry.service import record_change
from ctown.settings import Settings, get_settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return get_settings(var_dir=tmp_path)


def add_events(session: Session, n: int, start: int = 0) -> list[int]:
    return [record_change(session, actor=None, source="test", action="update", entity="indicator",
                          subject_id=None, payload={"code": "I0301", "value": i}).id
            for i in range(start, start + n)]


def test_append_prove_and_receipt(session: Session, settings: Settings) -> None:
    ids = add_events(session, 21)
    assert tasks.append_pending(session, settings) == 21
    assert tasks.append_pending(session, settings) == 0  # idempotent: nothing pending
    log = service.require_log(session)
    assert log.size == 21 and log.hash_alg == "sha256"
    cp = service.latest_checkpoint(session)
    assert cp is not None and cp.tree_size == 21
    body, _ = open_checkpoint(cp.note, Verifier.from_vkey(log.vkey))
    assert body.origin == log.origin and body.root_hash == service.root_hash(session, log)

    proof = service.inclusion(session, 7)
    assert check_proof(proof) and proof["root"] == body.root_hash.hex()
    assert service.find_leaf(session, "change_event", ids[7]) == 7

    add_events(session, 12, start=100)
    assert tasks.append_pending(session, settings) == 12
    cons = service.consistency(session, 21, 33)
    assert check_proof(cons) and cons["root1"] == body.root_hash.hex()

    receipt = receipts.receipt_for_record(session, settings, "change_event", ids[3])
    receipt = json.loads(json.dumps(receipt))  # what the farmer downloads
    report = check_receipt(receipt, log.vkey)
    assert report.valid, report.checks
    assert report.record["record"]["payload"] == {"code": "I0301", "value": 3}
    forged = {**receipt, "record": {**receipt["record"], "ref": ids[4]}}
    assert not check_receipt(forged, log.vkey).valid
    other = Verifier.from_vkey("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    assert not check_receipt(receipt, other.vkey).valid


def test_proofs_match_the_in_memory_tree(session: Session, settings: Settings) -> None:
    # Several appends of odd sizes cross tile boundaries and extend partial tiles.
    hashes = [merkle.SHA256.leaf(b"x%d" % i) for i in range(75)]
    pos = 0
    for size in (1, 2, 13, 16, 3, 40):
        service.append(session, settings, [("bench", pos + i, h)
                                           for i, h in enumerate(hashes[pos:pos + size])])
        pos += size
    mem = merkle.MemoryTree()
    mem.extend_hashes(hashes)
    log = service.require_log(session)
    tree = service.tree(session, log)
    for n in (1, 16, 17, 33, 75):
        assert merkle.root(tree, n) == mem.root(n)
        for m in (0, n // 2, n - 1):
            assert merkle.inclusion_proof(tree, m, n) == mem.inclusion_proof(m, n)
        for m in range(1, n):
            assert merkle.consistency_proof(tree, m, n) == mem.consistency_proof(m, n)
    assert tree.leaf_hashes(0, 75) == hashes
    assert tree.record_of(20) == ("bench", 20) and tree.locate("bench", 74) == 74


def test_verify_catches_edits_behind_the_platforms_back(session: Session,
                                                        settings: Settings) -> None:
    ids = add_events(session, 30)
    gap, after = add_events(session, 2, start=40)
    session.delete(session.get(ChangeEvent, gap))  # an id the platform never kept
    session.flush()
    ids += [after, *add_events(session, 5, start=50)]
    tasks.append_all(session, settings)
    assert integrity.verify_log(session).ok

    session.execute(sa.text("UPDATE change_events SET source = 'forged' WHERE id = :i"),
                    {"i": ids[4]})
    session.execute(sa.text("DELETE FROM change_events WHERE id = :i"), {"i": ids[9]})
    session.execute(sa.text(
        "INSERT INTO change_events (id, occurred_at, source, action, entity, payload, digest) "
        "VALUES (:i, '2026-01-01 00:00:00', 'forged', 'create', 'indicator', '{}', 'x')"),
        {"i": gap})
    report = integrity.verify_log(session)
    assert not report.ok
    found = {(p.problem, p.ref) for p in report.problems}
    assert {("altered", ids[4]), ("deleted", ids[9]), ("inserted", gap)} <= found
    assert report.problem_count == 3
    as_json = report.as_json()
    assert as_json["ok"] is False and len(as_json["problems"]) == 3


def test_verify_catches_edits_of_the_log_itself(session: Session, settings: Settings) -> None:
    add_events(session, 20)
    tasks.append_all(session, settings)
    session.execute(sa.text("UPDATE ledger_checkpoints SET note = replace(note, '\n20\n', "
                            "'\n19\n')"))
    session.execute(sa.text("UPDATE ledger_tiles SET hashes = :h WHERE tile_index = 0"),
                    {"h": b"\x00" * 32 + session.scalar(sa.text(
                        "SELECT hashes FROM ledger_tiles WHERE tile_index = 0"))[32:]})
    report = integrity.verify_log(session)
    kinds = {p.problem for p in report.problems}
    assert {"tree", "checkpoint", "altered"} <= kinds


def test_pending_rows_are_not_problems(session: Session, settings: Settings) -> None:
    add_events(session, 3)
    tasks.append_all(session, settings)
    add_events(session, 2)
    report = integrity.verify_log(session)
    assert report.ok and report.pending["change_event"] == 2


def test_before_any_append_verify_says_what_waits(session: Session) -> None:
    """No log yet: the report does not pass for "nothing to check" — it counts what is waiting."""
    add_events(session, 4)
    report = integrity.verify_log(session)
    assert report.size == 0 and report.pending["change_event"] == 4
    assert "pending 4" in "\n".join(report.lines())


def test_cli_verify_exit_status(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import typer

    from ctown.db import make_engine, session_factory, transaction
    from ctown.ledger import cli

    url = db_factory.migrated_url()
    settings = get_settings(database_url=url, var_dir=tmp_path)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        ids = add_events(session, 10)
        tasks.append_all(session, settings)
    root = typer.Typer()
    cli.register(root)
    env = {"CTOWN_DATABASE_URL": url, "CTOWN_VAR_DIR": str(tmp_path)}
    runner = CliRunner()
    result = runner.invoke(root, ["ledger", "verify", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ok"] is True
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE change_events SET payload = '{\"value\": 999}' WHERE id = :i"),
                     {"i": ids[2]})
    result = runner.invoke(root, ["ledger", "verify", "--json"], env=env)
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["problems"][0]["ref"] == ids[2] and out["problems"][0]["problem"] == "altered"
    result = runner.invoke(root, ["ledger", "receipt", "0"], env=env)
    assert result.exit_code == 0 and json.loads(result.stdout)["leaf_index"] == 0
    engine.dispose()


def test_chinese_suite_log_hashes_with_sm3(session: Session, tmp_path: Path) -> None:
    settings = get_settings(var_dir=tmp_path, cipher_suite="sm")
    add_events(session, 9)
    tasks.append_all(session, settings)
    log = service.require_log(session)
    assert log.hash_alg == "sm3"
    proof = service.inclusion(session, 4)
    assert proof["hash"] == "sm3" and check_proof(proof)
    assert not check_proof({**proof, "hash": "sha256"})
    assert check_proof(service.consistency(session, 3, 9))
    assert integrity.verify_log(session).ok
