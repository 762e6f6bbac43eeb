"""Loading department files on both databases: counts add up, reasons, re-sends, duplicates,
identity confirmations, the quarantine fix + replay, the credit file and its as-of view."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.crypto import FieldCipher
from ctown.ingest import digest, quarantine, status
from ctown.ingest.creditfile import credit_file
from ctown.ingest.models import Batch, CurrentValue, IndicatorValue, PendingMatch, QuarantinedRow
from ctown.ingest.service import load_file, record_values
from ctown.registry.models import Subject
from ctown.registry.tasks import resolve
from test_ingest_support import (
    BANK_GOOD,
    HEAD1,
    HEAD2,
    MEMBER,
    PSB_BAD,
    PSB_DUP,
    PSB_GOOD,
    cipher_at,
    consent_all,
    seed_regions,
    write_county,
)


@pytest.fixture
def county(tmp_path: Path) -> Path:
    return write_county(tmp_path / "county")


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return cipher_at(tmp_path)


def _load_all(session: Session, cipher: FieldCipher, county: Path) -> dict[str, object]:
    seed_regions(session)
    reports = {"psb": load_file(session, cipher, next((county / "psb").iterdir()), "psb")}
    consent_all(session)
    return reports | {d: load_file(session, cipher, next((county / d).iterdir()), d)
                      for d in ("bank", "hrss")}


def _admin() -> User:
    return User(id=0, username="t", display_name="t", role="county_admin",
                region_code="330521000000")


def test_counts_add_up_and_reasons_say_why(session: Session, cipher: FieldCipher,
                                           county: Path) -> None:
    reports = _load_all(session, cipher, county)
    psb, bank = reports["psb"], reports["bank"]
    assert (psb.received, psb.accepted, psb.quarantined, psb.duplicates) == (
        PSB_GOOD + PSB_BAD + PSB_DUP, PSB_GOOD, PSB_BAD, PSB_DUP)
    assert bank.accepted == BANK_GOOD and bank.quarantined == 3 and bank.duplicates == 0
    for r in reports.values():
        assert r.received == r.accepted + r.quarantined + r.duplicates
    items = quarantine.list_rows(session, cipher, None, limit=100)["items"]
    reasons = " | ".join(x["zh"] + " " + x["en"] for i in items for x in i["reasons"])
    assert "科学计数法" in reasons and "scientific notation" in reasons
    assert "校验位" in reasons and "村级区划代码" in reasons and "不在代码表中" in reasons
    assert "必填项为空" in reasons and "不是数字" in reasons and "超出允许范围" in reasons
    assert "尚未登记" in reasons or "不属于任何已登记的农户" in reasons
    by_col = {x["column"] for i in items for x in i["reasons"]}
    assert {"公民身份号码", "所属村代码", "文化程度", "姓名", "贷款余额（元）"} <= by_col


def test_values_land_on_subjects_with_units_and_codes(session: Session, cipher: FieldCipher,
                                                      county: Path) -> None:
    _load_all(session, cipher, county)
    hh = resolve(session, cipher, "resident_id", [HEAD1], "household")[HEAD1]
    person = resolve(session, cipher, "resident_id", [HEAD1], "person")[HEAD1]
    cur = {c.indicator_code: c for c in session.scalars(
        sa.select(CurrentValue).where(CurrentValue.subject_id.in_([hh, person])))}
    assert cur["I0501"].value_num == 1_200_000        # thousands separators
    assert cur["I0505"].value_num == 35_000           # full-width 3.5 万元 → yuan
    assert cur["I0506"].value_text == "1"             # 正常 → catalogue code
    assert cur["I0507"].value_num == 1                # 是 → true
    assert cur["I0101"].value_text == "50" and cur["I0102"].value_text == "20"
    assert cur["I0101"].observed_on == dt.date(2025, 5, 1)  # 2025年5月1日
    values = session.scalars(sa.select(IndicatorValue)).all()
    assert all(digest.verify(values))
    values[0].value_num = (values[0].value_num or 0) + 1
    assert not digest.verify([values[0]])[0]


def test_resend_is_a_no_op(session: Session, cipher: FieldCipher, county: Path) -> None:
    _load_all(session, cipher, county)
    before = status.counts(session)
    again = load_file(session, cipher, county / "psb" / "psb_1.csv", "psb")
    assert again.status == "already_loaded"
    assert again.duplicates == again.received and again.accepted == 0
    assert status.counts(session) == before
    # the same rows in another file are recognised row by row
    copy = county / "psb" / "psb_copy.csv"
    copy.write_bytes((county / "psb" / "psb_1.csv").read_bytes() + b"\r\n")
    third = load_file(session, cipher, copy, "psb")
    assert third.status == "loaded" and third.accepted == 0
    assert third.duplicates == PSB_GOOD + PSB_DUP and third.quarantined == PSB_BAD
    assert status.counts(session)["ingest.indicator_values"] == before["ingest.indicator_values"]


def test_pending_match_is_held_then_confirmed(session: Session, cipher: FieldCipher,
                                             county: Path) -> None:
    reports = _load_all(session, cipher, county)
    hrss = reports["hrss"]
    assert (hrss.accepted, hrss.quarantined, hrss.held) == (1, 2, 1)
    member = resolve(session, cipher, "resident_id", [MEMBER], "person")[MEMBER]
    matches = quarantine.list_matches(session, cipher, None)
    assert [m["subject_id"] for m in matches] == [member]
    assert not session.scalar(sa.select(sa.func.count()).select_from(IndicatorValue)
                              .where(IndicatorValue.subject_id == member,
                                     IndicatorValue.department == "hrss"))
    quarantine.decide(session, cipher, None, matches[0]["id"], confirm=True)
    got = {v.indicator_code: v.value_num for v in session.scalars(
        sa.select(IndicatorValue).where(IndicatorValue.subject_id == member,
                                        IndicatorValue.department == "hrss"))}
    assert got["I0903"] == 24 and got["I0403"] == 48000
    assert session.scalar(sa.select(PendingMatch.status)) == "confirmed"
    assert status.counts(session)["ingest.pending_matches"] == 0


def test_pending_match_rejected_goes_back_to_quarantine(session: Session, cipher: FieldCipher,
                                                        county: Path) -> None:
    _load_all(session, cipher, county)
    match = quarantine.list_matches(session, cipher, None)[0]
    quarantine.decide(session, cipher, None, match["id"], confirm=False)
    row = session.get_one(QuarantinedRow, match["quarantined_row_id"])
    assert row.status == "open" and row.reason_code == "match_rejected"


def test_fix_and_replay(session: Session, cipher: FieldCipher, county: Path) -> None:
    _load_all(session, cipher, county)
    items = quarantine.list_rows(session, cipher, None, department="bank")["items"]
    bad = next(i for i in items if i["row"].get("贷款余额（元）") == "abc")
    quarantine.fix_row(session, cipher, None, bad["id"], {"贷款余额（元）": "８８,０００"})
    open_before = status.counts(session)["ingest.quarantined_rows"]
    result = quarantine.replay(session, cipher, None, ids=[bad["id"]])
    assert result == {"received": 1, "accepted": 1, "quarantined": 0, "duplicates": 0,
                      "batches": 1}
    assert status.counts(session)["ingest.quarantined_rows"] == open_before - 1
    assert session.get_one(QuarantinedRow, bad["id"]).status == "replayed"
    hh = session.scalar(sa.select(Subject.household_id).where(Subject.name == "赵六",
                                                            Subject.kind == "person"))
    value = session.scalar(sa.select(CurrentValue.value_num).where(
        CurrentValue.subject_id == hh, CurrentValue.indicator_code == "I0501"))
    assert value == 88000


def test_credit_file_as_of(session: Session, cipher: FieldCipher, county: Path) -> None:
    seed_regions(session)
    day1 = dt.datetime(2025, 7, 1, 2, 0, tzinfo=dt.UTC)
    load_file(session, cipher, county / "psb" / "psb_1.csv", "psb", now=day1)
    load_file(session, cipher, county / "bank" / "bank_1.csv", "bank", now=day1)
    hh = resolve(session, cipher, "resident_id", [HEAD2], "household")[HEAD2]
    record_values(session, actor=None, department="bank", source="test repayment",
                  values=[(hh, "I0501", 40000, dt.date(2025, 7, 31))],
                  now=dt.datetime(2025, 8, 5, 2, 0, tzinfo=dt.UTC))
    # Outstanding loans are "core": the county admin sees them masked (ctown.masking); the
    # as-of rule is checked on the values themselves, as the county's own job reads them.
    now = credit_file(session, None, hh)
    loan = next(i for i in now.indicators if i.code == "I0501")
    assert loan.current is not None and loan.current.value == 40000
    assert [h.value for h in loan.history] == [40000, 50000]
    masked = next(i for i in credit_file(session, _admin(), hh).indicators if i.code == "I0501")
    assert masked.current is not None and masked.current.value == "1万–10万"
    then = credit_file(session, None, hh, as_of=dt.date(2025, 7, 15))
    loan_then = next(i for i in then.indicators if i.code == "I0501")
    assert loan_then.current is not None and loan_then.current.value == 50000
    assert loan_then.current.department == "bank" and len(loan_then.history) == 1
    before = credit_file(session, None, hh, as_of=dt.date(2025, 6, 30))
    assert all(i.current is None for i in before.indicators)


def test_record_values_is_idempotent_and_checks_types(session: Session, cipher: FieldCipher,
                                                      county: Path) -> None:
    from ctown.errors import Invalid

    _load_all(session, cipher, county)
    hh = resolve(session, cipher, "resident_id", [HEAD1], "household")[HEAD1]
    values = [(hh, "I0507", True, dt.date(2025, 7, 1))]
    a = record_values(session, actor=None, department="lending", source="loan 1", values=values)
    b = record_values(session, actor=None, department="lending", source="loan 1", values=values)
    assert a.id == b.id and a.accepted == 1
    with pytest.raises(Invalid):
        record_values(session, actor=None, department="lending", source="x",
                      values=[(hh, "I0506", "not a code", dt.date(2025, 7, 1))])
    with pytest.raises(Invalid):
        record_values(session, actor=None, department="lending", source="x",
                      values=[(999_999, "I0501", 1, dt.date(2025, 7, 1))])
    assert session.scalar(sa.select(sa.func.count()).select_from(Batch)
                          .where(Batch.department == "lending")) == 1


def test_unreadable_file_fails_alone_and_synth_folder_plan(db_factory, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                           county: Path) -> None:
    from ctown.db import make_engine, session_factory
    from ctown.ingest.tasks import plan, run

    (county / "bank" / "broken.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    planned, skipped = plan([county])
    assert [p.department for p in planned] == [None, "psb", "bank", "bank", "hrss"]
    assert skipped == []  # _hidden is not a department and is not reported
    engine = make_engine(db_factory.migrated_url())
    totals = run(session_factory(engine), cipher_at(tmp_path), planned).to_json()
    engine.dispose()
    assert totals["failed_files"] == 1 and totals["files"] == 4
    failed = next(d for d in totals["details"] if d["status"] == "failed")
    assert failed["file"].endswith("broken.xlsx") and "Excel" in failed["error"]["zh"]
    assert totals["received"] == totals["accepted"] + totals["quarantined"] + totals["duplicates"]


def test_every_look_at_a_credit_file_is_logged(session: Session, cipher: FieldCipher,
                                               county: Path) -> None:
    from ctown.privacy.models import AuditEvent

    _load_all(session, cipher, county)
    hh = resolve(session, cipher, "resident_id", [HEAD2], "household")[HEAD2]
    credit_file(session, _admin(), hh)
    credit_file(session, _admin(), hh, as_of=dt.date(2025, 7, 15))
    looks = session.scalars(sa.select(AuditEvent).where(
        AuditEvent.action == "credit_file.view", AuditEvent.target == f"subject {hh}")).all()
    assert [e.detail.get("as_of") for e in looks] == [None, "2025-07-15"]
