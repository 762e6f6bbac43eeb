"""Consent and the farmer's rights on both databases: bank queries with and without consent,
the query log the farmer sees, negative-record notices, objections, complaints, deletion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import COUNTY, TOWNSHIP, County, build_county

from ctown.accounts.roles import Role
from ctown.accounts.service import create_user
from ctown.catalogue.service import load_catalogue
from ctown.crypto import FieldCipher
from ctown.errors import Forbidden, Invalid, NotFound
from ctown.ingest.models import CurrentValue, IndicatorValue
from ctown.ingest.service import record_values
from ctown.ledger import integrity
from ctown.ledger import tasks as ledger_tasks
from ctown.notify.setup import notifier_from_settings
from ctown.notify.tasks import deliver_pending
from ctown.privacy import service, tasks
from ctown.privacy.models import AuditEvent
from ctown.registry.models import Subject
from ctown.report import service as report
from ctown.settings import get_settings

NEGATIVE = "I0703"  # 失信被执行人 (public, negative)
OVERDUE = "I0503"   # 逾期金额 (core, negative)


def _plain_code() -> str:
    cat = load_catalogue()
    return next(c for c, i in sorted(cat.indicators.items()) if "household" in i.applies_to
                and i.sensitivity == "sensitive" and i.type in ("decimal", "integer")
                and not i.negative)


@pytest.fixture
def county(session: Session, tmp_path: Path) -> County:
    cipher = FieldCipher.load(tmp_path / "keys.json")
    county = build_county(session, cipher, households=2)
    users = county.users
    users["bank"].bank_code = "RCB001"
    users["bank_b"] = create_user(session, username="bank_b", password=None,
                                  role=Role.bank_officer, region_code=COUNTY, bank_code="ABC002")
    users["privacy"] = create_user(session, username="privacy", password=None,
                                   role=Role.privacy_officer, region_code=COUNTY)
    users["auditor"] = create_user(session, username="auditor", password=None,
                                   role=Role.evaluator, region_code=COUNTY)
    # The households signed their collection consent, so consent-required values are recorded.
    for hh in session.scalars(sa.select(Subject.id).where(Subject.kind == "household")):
        service.grant_collection_consent(session, None, subject_id=hh,
                                         signed_on=dt.date(2026, 1, 5))
    session.flush()
    return county


def _household(county: County) -> int:
    sid = county.users["farmer"].subject_id
    assert sid is not None
    return sid


def test_bank_needs_the_farmers_consent(session: Session, county: County) -> None:
    farmer, bank, bank_b = (county.users[k] for k in ("farmer", "bank", "bank_b"))
    household = _household(county)
    refused, body = report.credit_report(session, bank, household, "loan_application")
    assert not refused.allowed and body is None and refused.query.outcome == "refused"

    consent = service.grant_consent(session, farmer, subject_id=household, bank_code="RCB001",
                                    purpose="loan_application", days=30)
    allowed, body = report.credit_report(session, bank, household, "loan_application")
    assert allowed.allowed and allowed.consent is not None and allowed.consent.id == consent.id
    assert body is not None and body["subject_id"] == household
    # Another bank, or another purpose, is still refused.
    assert not report.credit_report(session, bank_b, household, "loan_application")[0].allowed
    assert not report.credit_report(session, bank, household, "post_loan")[0].allowed

    service.revoke_consent(session, farmer, consent.id)
    assert not report.credit_report(session, bank, household, "loan_application")[0].allowed

    log = service.queries_for(session, farmer)
    assert [q.outcome for q in reversed(log)] == [
        "refused", "allowed", "refused", "refused", "refused"]
    assert {q.institution for q in log} == {"RCB001", "ABC002"}
    actions = list(session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions.count("report.refused") == 4 and "consent.revoke" in actions


def test_consent_rules(session: Session, county: County) -> None:
    farmer, bank = county.users["farmer"], county.users["bank"]
    household = _household(county)
    with pytest.raises(Forbidden):  # the bank cannot authorise itself
        service.grant_consent(session, bank, subject_id=household, bank_code="RCB001",
                              purpose="loan_application")
    with pytest.raises(Invalid):
        service.grant_consent(session, farmer, subject_id=household, bank_code="RCB001",
                              purpose="marketing")
    other = county.users["village2"]
    with pytest.raises(NotFound):  # a farmer cannot authorise for someone else's household
        service.grant_consent(session, farmer, subject_id=household + 1000,
                              bank_code="RCB001", purpose="loan_application")
    assert other.role == "village_officer"


def test_provide_needs_its_own_consent(session: Session, county: County) -> None:
    farmer, bank = county.users["farmer"], county.users["bank"]
    household = _household(county)
    code = _plain_code()
    record_values(session, actor=None, department="bank", source="test",
                  values=[(household, code, 37_500, dt.date(2026, 6, 1))])
    service.grant_consent(session, farmer, subject_id=household, bank_code="RCB001",
                          purpose="loan_application", scope="query")
    access, rows = report.provide_data(session, bank, household, "loan_application")
    assert not access.allowed and rows == []
    service.grant_consent(session, farmer, subject_id=household, bank_code="RCB001",
                          purpose="loan_application", scope="provide")
    access, rows = report.provide_data(session, bank, household, "loan_application")
    assert access.allowed
    row = next(r for r in rows if r["indicator_code"] == code)
    assert row["value_num"] is None and row["value_text"] == "1万–10万"  # masked for banks


def test_negative_record_goes_live_after_the_notice(session: Session, county: County) -> None:
    farmer, bank = county.users["farmer"], county.users["bank"]
    household = _household(county)
    code = _plain_code()
    record_values(session, actor=None, department="court", source="test",
                  values=[(household, NEGATIVE, True, dt.date(2026, 5, 1)),
                          (household, code, 37_500, dt.date(2026, 5, 1))])
    service.grant_consent(session, farmer, subject_id=household, bank_code="RCB001",
                          purpose="loan_application")
    _a, body = report.credit_report(session, bank, household, "loan_application")
    assert body is not None
    codes = {i["code"]: i for i in body["indicators"]}
    assert NEGATIVE not in codes
    assert codes[code]["value"] == "1万–10万" and codes[code]["visibility"] == "masked"
    assert tasks.notify_negatives(session) >= 1
    assert tasks.notify_negatives(session) == 0  # told once
    # Live once the SMS went out (before: as soon as the notice row existed, sent or not).
    deliver_pending(session, notifier_from_settings(get_settings(sms_backend="memory")))
    _a, body = report.credit_report(session, bank, household, "loan_application")
    assert body is not None
    assert NEGATIVE in {i["code"] for i in body["indicators"]}


def test_objection_marks_disputed_and_is_answered(session: Session, county: County) -> None:
    farmer, bank, township = (county.users[k] for k in ("farmer", "bank", "township"))
    household = _household(county)
    code = _plain_code()
    record_values(session, actor=None, department="bank", source="test",
                  values=[(household, code, 12, dt.date(2026, 5, 1))])
    objection = service.raise_objection(session, farmer, subject_id=household,
                                        indicator_code=code, reason="数额不对")
    assert objection.due_at - objection.raised_at == dt.timedelta(days=20)
    service.grant_consent(session, farmer, subject_id=household, bank_code="RCB001",
                          purpose="loan_application")
    _a, body = report.credit_report(session, bank, household, "loan_application")
    assert body is not None and next(
        i for i in body["indicators"] if i["code"] == code)["disputed"] is True
    with pytest.raises(Forbidden):
        service.answer_objection(session, farmer, objection.id, "ok")
    late = objection.due_at + dt.timedelta(days=1)
    assert objection in service.overdue_objections(session, late)
    service.answer_objection(session, township, objection.id, "经核实，数据已更正。")
    assert objection.status == "answered"
    assert service.disputed_codes(session, [household]) == set()
    assert township.region_code == TOWNSHIP


def test_complaint_reaches_the_privacy_officer(session: Session, county: County) -> None:
    farmer, privacy = county.users["farmer"], county.users["privacy"]
    complaint = service.file_complaint(session, farmer, "村里公示栏贴出了我的手机号")
    assert complaint in service.complaints_for(session, privacy)
    assert complaint in service.complaints_for(session, farmer)
    assert complaint not in service.complaints_for(session, county.users["village"])
    with pytest.raises(Forbidden):
        service.answer_complaint(session, county.users["admin"], complaint.id, "x")
    service.answer_complaint(session, privacy, complaint.id, "已撤下并约谈村信息员。")
    assert complaint.status == "answered" and complaint.answered_by_id == privacy.id


def test_negative_records_deleted_after_five_years(session: Session, county: County) -> None:
    household = _household(county)
    record_values(session, actor=None, department="bank", source="test",
                  values=[(household, OVERDUE, 800, dt.date(2020, 3, 1)),
                          (household + 1, OVERDUE, 500, dt.date(2023, 3, 1))])
    gone = tasks.purge_negatives(session, today=dt.date(2026, 3, 2))
    assert gone == 1
    left = session.execute(sa.select(IndicatorValue.subject_id).where(
        IndicatorValue.indicator_code == OVERDUE)).scalars().all()
    assert left == [household + 1]
    assert session.scalar(sa.select(sa.func.count()).select_from(CurrentValue).where(
        CurrentValue.indicator_code == OVERDUE, CurrentValue.subject_id == household)) == 0
    assert tasks.cutoff(dt.date(2028, 2, 29)) == dt.date(2023, 2, 28)


def test_audit_trail_is_on_the_ledger(session: Session, county: County, tmp_path: Path) -> None:
    settings = get_settings(var_dir=tmp_path)
    farmer, bank, auditor = (county.users[k] for k in ("farmer", "bank", "auditor"))
    household = _household(county)
    service.grant_consent(session, farmer, subject_id=household, bank_code="RCB001",
                          purpose="loan_application")
    report.credit_report(session, bank, household, "loan_application")
    ledger_tasks.append_all(session, settings)
    kinds = integrity.verify_log(session)
    assert kinds.ok
    events = service.audit_events(session, auditor)
    assert {"consent.grant", "report.view"} <= {e.action for e in events}
    with pytest.raises(Forbidden):
        service.audit_events(session, bank)
    session.execute(sa.text("UPDATE audit_events SET actor_id = 999 WHERE action = 'report.view'"))
    broken = integrity.verify_log(session)
    assert [(p.problem, p.kind) for p in broken.problems] == [("altered", "audit")]


def test_lawful_erasure_passes_verify_but_a_direct_delete_does_not(session: Session,
                                                                  county: County,
                                                                  tmp_path: Path) -> None:
    settings = get_settings(var_dir=tmp_path)
    household = _household(county)
    record_values(session, actor=None, department="bank", source="test",
                  values=[(household, OVERDUE, 800, dt.date(2020, 3, 1)),
                          (household + 1, OVERDUE, 500, dt.date(2023, 3, 1))])
    ledger_tasks.append_all(session, settings)
    assert tasks.purge_negatives(session, today=dt.date(2026, 3, 2)) == 1
    ledger_tasks.append_all(session, settings)
    checked = integrity.verify_log(session)
    assert checked.ok and checked.erased == 1
    survivor = session.scalar(sa.select(IndicatorValue.id).where(
        IndicatorValue.indicator_code == OVERDUE))
    session.execute(sa.delete(IndicatorValue).where(IndicatorValue.id == survivor))
    tampered = integrity.verify_log(session)
    assert not tampered.ok
    assert [(p.problem, p.kind, p.ref) for p in tampered.problems] == [
        ("deleted", "credit_value", survivor)]
