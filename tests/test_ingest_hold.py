"""Held until consent is on file (授权暂存): consent-required values of persons and households
without a collection consent stay out of the credit file, encrypted, until the consent lands;
entities are not held; the consent register import; purge; the synth folder's consents."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.crypto import DecryptionError, FieldCipher
from ctown.ingest import digest, hold, status
from ctown.ingest.consents import import_consents
from ctown.ingest.creditfile import credit_file
from ctown.ingest.models import Batch, ConsentReject, CurrentValue, HeldValue, IndicatorValue
from ctown.ingest.service import load_file, record_values
from ctown.privacy.models import AuditEvent, Consent
from ctown.privacy.service import revoke_consent
from ctown.registry.models import Subject
from ctown.registry.tasks import resolve
from test_ingest_support import (
    BANK_HEADER,
    BANK_ROWS,
    HEAD1,
    HEAD2,
    TOWN,
    V1,
    cipher_at,
    rid,
    seed_regions,
    uscc,
    write_county,
    write_csv,
)

DAY1 = dt.datetime(2025, 7, 1, 2, 0, tzinfo=dt.UTC)
DAY2 = dt.datetime(2025, 8, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return write_county(tmp_path / "county")


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return cipher_at(tmp_path)


def _admin() -> User:
    return User(id=0, username="t", display_name="t", role="county_admin",
                region_code="330521000000")


def _load(session: Session, cipher: FieldCipher, county: Path, *depts: str,
          now: dt.datetime = DAY1) -> dict[str, object]:
    return {d: load_file(session, cipher, next((county / d).iterdir()), d, now=now)
            for d in depts}


def _current(session: Session, subject: int) -> dict[str, CurrentValue]:
    return {c.indicator_code: c for c in session.scalars(
        sa.select(CurrentValue).where(CurrentValue.subject_id == subject))}


def _held(session: Session, household: int | None = None) -> list[HeldValue]:
    stmt = sa.select(HeldValue).order_by(HeldValue.id)
    if household is not None:
        stmt = stmt.where(HeldValue.household_id == household)
    return list(session.scalars(stmt))


def test_values_held_without_consent_and_released_on_consent(
        session: Session, cipher: FieldCipher, county: Path) -> None:
    seed_regions(session)
    reports = _load(session, cipher, county, "psb", "bank")
    bank = reports["bank"]
    hh = resolve(session, cipher, "resident_id", [HEAD1], "household")[HEAD1]
    # Deposits (I0505) need the household's written consent; the loan balance (I0501) does not.
    assert "I0505" not in _current(session, hh) and "I0501" in _current(session, hh)
    assert session.scalar(sa.select(sa.func.count()).select_from(IndicatorValue).where(
        IndicatorValue.indicator_code == "I0505")) == 0
    held = _held(session, hh)
    assert [h.indicator_code for h in held] == ["I0505"]
    assert "35000" not in held[0].value  # encrypted, bound to its row and subject
    assert json.loads(cipher.decrypt(held[0].value, hold.held_aad(
        held[0].batch_id, held[0].seq, "I0505", hh)))[0] == 35000
    with pytest.raises(DecryptionError):  # moved to another subject: does not decrypt
        cipher.decrypt(held[0].value, hold.held_aad(held[0].batch_id, held[0].seq, "I0505",
                                                    hh + 1))
    # The rows still count as accepted; held values are counted apart from values written.
    assert bank.received == bank.accepted + bank.quarantined + bank.duplicates  # type: ignore[attr-defined]
    assert bank.held_values == 2 == len(_held(session))  # type: ignore[attr-defined]
    assert status.counts(session)["ingest.held_values"] == 2
    written = session.scalar(sa.select(sa.func.count()).select_from(IndicatorValue).where(
        IndicatorValue.batch_id == bank.batch_id))  # type: ignore[attr-defined]
    assert bank.values == written  # type: ignore[attr-defined]

    consent, released = hold.grant_and_release(session, cipher, _admin(), subject_id=hh,
                                               signed_on=dt.date(2025, 7, 20), form_no="F-1",
                                               now=DAY2)
    assert released == {"households": 1, "values": 1} and consent.scope == "collect"
    assert consent.bank_code == "" and consent.subject_id == hh
    cur = _current(session, hh)["I0505"]
    assert cur.value_num == 35000
    # A batch of its own (new to the file now: incremental rescoring finds it), naming the
    # batch the value was received in.
    release = session.get_one(Batch, cur.batch_id)
    assert release.channel == "release" and release.department == "bank"
    assert release.detail == {"released_from_batches": [bank.batch_id], "subjects": 1}  # type: ignore[attr-defined]
    from ctown.scoring.tasks import changed_subjects

    assert hh in changed_subjects(session, bank.batch_id)  # type: ignore[attr-defined]
    row = session.scalars(sa.select(IndicatorValue).where(
        IndicatorValue.subject_id == hh, IndicatorValue.indicator_code == "I0505")).one()
    assert row.recorded_at == DAY2 and row.observed_on == dt.date(2025, 6, 30)
    assert row.department == "bank" and digest.verify([row]) == [True]
    assert _held(session, hh) == [] and len(_held(session)) == 1  # HEAD2 still waits
    assert session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "held.release", AuditEvent.target == f"subject {hh}")) == 1
    # As-of: on DAY1 we did not know the deposits yet; after the release we do.
    deposits = {d: next(i for i in credit_file(session, _admin(), hh, as_of=d).indicators
                        if i.code == "I0505").current for d in (DAY1.date(), DAY2.date())}
    assert deposits[DAY1.date()] is None and deposits[DAY2.date()] is not None


def test_resend_is_no_op_and_revocation_holds_again(session: Session, cipher: FieldCipher,
                                                     county: Path, tmp_path: Path) -> None:
    seed_regions(session)
    _load(session, cipher, county, "psb", "bank")
    before = len(_held(session))
    again = load_file(session, cipher, county / "bank" / "bank_1.csv", "bank", now=DAY2)
    assert again.status == "already_loaded" and len(_held(session)) == before
    # The same rows in another encoding (another file): every row a duplicate, nothing held twice.
    copy = write_csv(tmp_path / "b2" / "bank_gb.csv", BANK_HEADER, BANK_ROWS, "gb18030")
    third = load_file(session, cipher, copy, "bank", now=DAY2)
    assert third.duplicates == third.received - third.quarantined and third.held_values == 0
    assert len(_held(session)) == before

    hh2 = resolve(session, cipher, "resident_id", [HEAD2], "household")[HEAD2]
    consent, _r = hold.grant_and_release(session, cipher, None, subject_id=hh2,
                                         signed_on=dt.date(2025, 7, 1), now=DAY2)
    assert _current(session, hh2)["I0505"].value_num == 8000
    revoke_consent(session, _admin(), consent.id)
    newer = [[*BANK_ROWS[1][:6], "0.9", *BANK_ROWS[1][7:9], "2025-07-31", "城关支行"]]
    later = load_file(session, cipher, write_csv(tmp_path / "b3" / "bank_07.csv", BANK_HEADER,
                                                 newer, "utf-8"), "bank", now=DAY2)
    assert later.accepted == 1 and later.held_values == 1
    # Withdrawal stops new collection; what was released before stays (PIPL art. 15).
    assert _current(session, hh2)["I0505"].value_num == 8000


def test_entities_and_record_values(session: Session, cipher: FieldCipher, county: Path) -> None:
    seed_regions(session)
    _load(session, cipher, county, "psb")
    hh = resolve(session, cipher, "resident_id", [HEAD1], "household")[HEAD1]
    entity = Subject(kind="entity", name="清溪合作社", region_code=V1, credit_code=uscc(7),
                     entity_type="cooperative")
    session.add(entity)
    session.flush()
    batch = record_values(session, actor=None, department="bank", source="test deposits",
                          values=[(hh, "I0505", 1000, dt.date(2025, 6, 30)),
                                  (entity.id, "I0505", 5000, dt.date(2025, 6, 30)),
                                  (hh, "I0501", 7, dt.date(2025, 6, 30))],
                          now=DAY1, cipher=cipher)
    assert (batch.received, batch.accepted, batch.values_written, batch.held_values) == (3, 3, 2, 1)
    # The written-consent rule protects natural persons: a cooperative's deposits are not held.
    assert _current(session, entity.id)["I0505"].value_num == 5000
    assert [h.subject_id for h in _held(session)] == [hh]


def _register(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, ["授权书编号", "户主姓名", "户主身份证号", "签署日期"], rows, "utf-8-sig")


def test_consent_register_import(session: Session, cipher: FieldCipher, county: Path,
                                 tmp_path: Path) -> None:
    seed_regions(session)
    _load(session, cipher, county, "psb", "bank")
    hh = resolve(session, cipher, "resident_id", [HEAD1], "household")[HEAD1]
    bad_check = HEAD2[:17] + ("0" if HEAD2[17] != "0" else "1")
    path = _register(tmp_path / "consents" / "c.csv", [
        ["F-1", "张三", HEAD1, "2025年7月2日"],
        ["F-1", "张三", HEAD1, "2025-07-02"],                # the same form twice: duplicate
        ["F-2", "王五", bad_check, "2025-07-02"],            # check character wrong
        ["F-3", "未登记", rid("19900909", 91), "2025-07-02"],  # valid but not registered
        ["", "王五", HEAD2, "2025-07-02"],                    # no form number
        ["F-5", "王五", HEAD2, "2099-01-01"],                # signed in the future
        ["F-6", "王五", HEAD2, "七月"],                       # not a date
        ["F-7", "王五", HEAD2, "2019-01-01"],                # expired after three years
    ])
    out = import_consents(session, cipher, path, now=DAY2)
    assert (out["received"], out["granted"], out["duplicates"], out["quarantined"]) == (8, 1, 1, 6)
    assert out["released_values"] == 1 and _current(session, hh)["I0505"].value_num == 35000
    codes = {r["row_no"]: [x["code"] for x in r["reasons"]] for r in out["rejects"]}
    assert codes == {4: ["bad_identifier"], 5: ["not_registered"], 6: ["required"],
                     7: ["future_date"], 8: ["not_date"], 9: ["consent_expired"]}
    text = " ".join(x["zh"] + x["en"] for r in out["rejects"] for x in r["reasons"])
    assert "校验位" in text and "授权书编号" in text and "expired" in text.lower()
    stored = session.scalars(sa.select(ConsentReject)).all()
    assert len(stored) == 6 and all(HEAD2 not in r.payload for r in stored)
    consent = session.scalars(sa.select(Consent).where(Consent.scope == "collect")).one()
    assert (consent.subject_id, consent.form_no, consent.signed_on) == (
        hh, "F-1", dt.date(2025, 7, 2))
    again = import_consents(session, cipher, path, now=DAY2)
    assert (again["granted"], again["duplicates"], again["quarantined"]) == (0, 2, 6)
    assert session.scalar(sa.select(sa.func.count()).select_from(ConsentReject)) == 6


def test_purge_after_retention(session: Session, cipher: FieldCipher, county: Path) -> None:
    seed_regions(session)
    _load(session, cipher, county, "psb", "bank", now=DAY1)
    assert hold.purge(session, now=DAY1 + dt.timedelta(days=300)) == {"households": 0,
                                                                      "values": 0}
    hh2 = resolve(session, cipher, "resident_id", [HEAD2], "household")[HEAD2]
    out = hold.purge(session, now=DAY1 + dt.timedelta(days=400))
    assert out["values"] == 2 and _held(session) == []
    assert hh2 in {int(e.detail["subject_id"]) for e in session.scalars(
        sa.select(AuditEvent).where(AuditEvent.action == "held.purge"))}


def test_synth_folder_loads_consents_after_the_registry(db_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                         county: Path) -> None:
    from ctown.db import make_engine, session_factory
    from ctown.ingest.tasks import plan, run

    _register(county / "consents" / "collection_consents.csv",
              [["F-1", "张三", HEAD1, "2025-07-02"]])
    planned, skipped = plan([county])
    assert [(p.kind, p.department) for p in planned] == [
        ("regions", None), ("feed", "psb"), ("consents", None), ("feed", "bank"),
        ("feed", "hrss")]
    assert skipped == []
    engine = make_engine(db_factory.migrated_url())
    factory = session_factory(engine)
    totals = run(factory, cipher_at(tmp_path), planned).to_json()
    assert totals["consents"]["granted"] == 1 and totals["files"] == 3
    assert totals["received"] == totals["accepted"] + totals["quarantined"] + totals["duplicates"]
    with factory() as s:
        hh = resolve(s, cipher_at(tmp_path), "resident_id", [HEAD1], "household")[HEAD1]
        assert "I0505" in _current(s, hh)  # consent came before the bank file: not held
        held = {h.household_id for h in _held(s)}
        assert held and hh not in held
        assert totals["held_values"] == len(_held(s))
    engine.dispose()


def test_consent_page_records_a_consent_and_shows_counts_only(db_factory,  # type: ignore[no-untyped-def]
                                                               tmp_path: Path,
                                                               county: Path) -> None:
    from ctown.accounts.service import create_user
    from ctown.db import make_engine, session_factory
    from webutil import csrf_from, login, make_app_client

    url = db_factory.migrated_url()
    var = tmp_path / "var"
    var.mkdir()
    engine = make_engine(url)
    with session_factory(engine).begin() as s:
        seed_regions(s)
        _load(s, cipher_at(var), county, "psb", "bank")
        hh = resolve(s, cipher_at(var), "resident_id", [HEAD1], "household")[HEAD1]
        hh2 = resolve(s, cipher_at(var), "resident_id", [HEAD2], "household")[HEAD2]
        create_user(s, username="town", password="town", role="township_officer",
                    region_code=TOWN)
        create_user(s, username="village", password="village", role="village_officer",
                    region_code=V1)
    engine.dispose()
    with make_app_client(url, var) as client:
        login(client, "village", "village")
        page = client.get(f"/subjects/{hh}/consent")
        assert page.status_code == 200 and "I0505" in page.text and "尚未授权" in page.text
        assert "35000" not in page.text and "35,000" not in page.text  # counts, never values
        assert client.get("/ingest/held").status_code == 403  # the county overview: clerks only
        done = client.post(f"/subjects/{hh}/consent", data={
            "csrf_token": csrf_from(page.text), "signed_on": "2025-07-02", "form_no": "V-1",
            "years": "3"})
        assert done.status_code == 303
        after = client.get(done.headers["location"])
        assert "已授权" in after.text and "没有暂存的数据" in after.text
        credit = client.get(f"/api/v1/subjects/{hh}/credit-file")
        deposits = next(i for i in credit.json()["indicators"] if i["code"] == "I0505")
        # Released into the file; deposits are "core": masked for a village officer (35,000).
        assert deposits["current"]["value"] == "1万–10万"
        # The JSON API: the second household lives in another village (not found for this
        # officer); the township officer records it (CSRF header for cookie sessions).
        def record(body: dict[str, str]) -> Any:
            token = csrf_from(client.get(f"/subjects/{hh}/consent").text)
            return client.post(f"/api/v1/subjects/{hh2}/collection-consent", json=body,
                               headers={"X-CSRF-Token": token})

        assert record({"signed_on": "2025-07-03", "form_no": "V-2"}).status_code == 404
        login(client, "town", "town")
        assert record({"signed_on": "2999-01-01"}).status_code == 422  # not in the future
        api = record({"signed_on": "2025-07-03", "form_no": "V-2"})
        assert api.status_code == 200, api.text
        assert api.json()["household_id"] == hh2 and api.json()["released_values"] > 0
        client.app.state.engine.dispose()  # type: ignore[attr-defined]
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM ingest_held_values "
                                    "WHERE household_id = :h"), {"h": hh}).scalar() == 0
    engine.dispose()


def test_consent_cli_import_held_and_purge(tmp_path: Path, county: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``ctown consent import|held|purge-held --json`` as a script sees them (SQLite)."""
    import typer
    from typer.testing import CliRunner

    from ctown.db import make_engine, session_factory
    from ctown.ingest import cli
    from ctown.migrate import upgrade

    var = tmp_path / "var"
    var.mkdir()
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("CTOWN_DATABASE_URL", url)
    monkeypatch.setenv("CTOWN_VAR_DIR", str(var))
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        seed_regions(s)
        _load(s, cipher_at(var), county, "psb", "bank", now=dt.datetime.now(dt.UTC))
    engine.dispose()
    root = typer.Typer()
    cli.register(root)
    runner = CliRunner()
    path = _register(tmp_path / "reg.csv", [["F-1", "张三", HEAD1, "2025-07-02"],
                                           ["F-2", "王五", "123", "2025-07-02"]])
    result = runner.invoke(root, ["consent", "import", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["received"], out["granted"], out["quarantined"], out["released_values"]) == (
        2, 1, 1, 1)
    held = json.loads(runner.invoke(root, ["consent", "held", "--json"]).stdout)
    assert held == [{"indicator": "I0505", "values": 1, "households": 1}]  # HEAD2 waits
    kept = json.loads(runner.invoke(root, ["consent", "purge-held", "--json"]).stdout)
    assert kept == {"households": 0, "values": 0}  # within the year
    gone = json.loads(runner.invoke(root, ["consent", "purge-held", "--days", "0",
                                           "--json"]).stdout)
    assert gone == {"households": 1, "values": 1}


def test_fast_path_agrees_with_the_rule_of_an_active_consent(session: Session, tmp_path: Path
                                                             ) -> None:
    """The load's SQL look-up of uncovered households says what ``access.rules`` says: a
    consent not yet granted, expired, revoked or of another scope does not cover."""
    from tests.factories import build_county

    from ctown.access import rules

    build_county(session, FieldCipher.load(tmp_path / "k.json"), households=6)
    households = session.scalars(sa.select(Subject.id).where(Subject.kind == "household")
                                 .order_by(Subject.id)).all()[:6]
    at = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    day = dt.timedelta(days=1)
    shapes = [dict(granted_at=at - day, valid_until=at + day),                  # in force
              dict(granted_at=at + day, valid_until=at + 9 * day),              # not yet granted
              dict(granted_at=at - 9 * day, valid_until=at - day),              # expired
              dict(granted_at=at - day, valid_until=at + day, revoked_at=at - day / 2),
              dict(granted_at=at - day, valid_until=at + day, scope="query"),   # not collection
              None]                                                              # none at all
    for hh, shape in zip(households, shapes, strict=True):
        if shape is not None:
            session.add(Consent(subject_id=hh, bank_code="", purpose="collection",
                                **{"scope": "collect", **shape}))
    session.flush()
    by_rule = {hh for hh in households if rules.active_consent(
        session, hh, None, "collection", "collect", at=at) is None}
    assert by_rule == set(households[1:])
    assert set(hold.uncovered(session, households, at).values()) == by_rule
