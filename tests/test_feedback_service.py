"""The feedback queue (R-6.4, §7.4): submit from every channel, routing, the 48-hour deadline,
the escalation job on an injected clock, answers and their notices, the on-time figure against
hand-counted cases, and the text encrypted at rest. Both databases."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import COUNTY, TOWNSHIP, VILLAGE_A, VILLAGE_B, County, build_county

from ctown.crypto import FieldCipher
from ctown.errors import Conflict, Forbidden, Invalid
from ctown.feedback import routing, service
from ctown.feedback.models import Feedback
from ctown.notify.models import Notification
from ctown.privacy.keyring import KeyringError

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 in the county
H = dt.timedelta(hours=1)


@pytest.fixture
def county(session: Session, tmp_path: Path) -> County:
    return build_county(session, FieldCipher.load(tmp_path / "keys.json"))


def _home(county: County) -> int:
    home = county.users["farmer"].subject_id
    assert home is not None
    return home


def _submit(session: Session, county: County, actor_name: str | None = "farmer", *,
            channel: str = "page", kind: str = "feedback", text: str = "路灯坏了",
            now: dt.datetime = T0, **kw: object) -> Feedback:
    actor = county.users[actor_name] if actor_name else None
    kw.setdefault("subject_id", _home(county))
    return service.submit(session, actor, channel=channel, kind=kind, text=text,
                          cipher=county.cipher, now=now, **kw)  # type: ignore[arg-type]


def _notices(session: Session, item: Feedback) -> list[tuple[str, int | None, int | None]]:
    return [(n.channel, n.user_id, n.subject_id) for n in session.scalars(
        sa.select(Notification).where(Notification.ref_kind == "feedback",
                                      Notification.ref_id == item.id).order_by(Notification.id))]


# -- submit --------------------------------------------------------------------------------------
def test_every_channel_lands_in_the_one_queue(session: Session, county: County) -> None:
    home = _home(county)
    page = _submit(session, county, "farmer", channel="page", subject_id=None)
    sms = _submit(session, county, None, channel="sms", text="贷款什么时候批")
    voice = _submit(session, county, None, channel="voice", text="", recording_ref="rec/0001.wav")
    officer = _submit(session, county, "village", channel="officer", text="申请表丢了")
    items = [page, sms, voice, officer]
    assert [i.channel for i in items] == ["page", "sms", "voice", "officer"]
    assert {i.subject_id for i in items} == {home}  # the farmer's own household by default
    assert [i.submitted_by_id for i in items] == [county.users["farmer"].id, None, None,
                                                  county.users["village"].id]
    assert voice.recording_ref == "rec/0001.wav"
    assert len({i.ref for i in items}) == 4 and all(len(i.ref) == 12 for i in items)
    assert session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 4


def test_feedback_goes_to_the_village_complaints_to_the_township(session: Session,
                                                                 county: County) -> None:
    fb = _submit(session, county)
    complaint = _submit(session, county, kind="complaint", text="信息员态度差")
    assert (fb.region_code, fb.assigned_role, fb.origin_region_code) == (
        VILLAGE_A, "village_officer", VILLAGE_A)
    assert (complaint.region_code, complaint.assigned_role) == (TOWNSHIP, "township_officer")
    assert complaint.origin_region_code == VILLAGE_A
    # Whoever holds it is told, in-app: the village officer of A, not of B; the township officer.
    assert _notices(session, fb) == [("in_app", county.users["village"].id, None)]
    assert _notices(session, complaint) == [("in_app", county.users["township"].id, None)]


def test_without_a_household_the_item_is_about_a_village(session: Session, county: County) -> None:
    item = _submit(session, county, "village2", channel="officer", subject_id=None,
                   text="村口道路积水")
    assert (item.subject_id, item.origin_region_code, item.region_code) == (
        None, VILLAGE_B, VILLAGE_B)
    by_server = _submit(session, county, None, channel="sms", subject_id=None,
                        region_code=VILLAGE_B)
    assert by_server.region_code == VILLAGE_B
    county_item = _submit(session, county, "admin", channel="officer", subject_id=None)
    # At the county already: the village rule cannot send it down.
    assert (county_item.region_code, county_item.assigned_role) == (COUNTY, "village_officer")


def test_deadline_is_48_hours_of_clock_time(session: Session, county: County) -> None:
    friday_evening = dt.datetime(2026, 12, 4, 11, 30, tzinfo=dt.UTC)  # 19:30 Friday, Beijing
    item = _submit(session, county, now=friday_evening)
    assert item.received_at == friday_evening
    assert item.deadline_at == dt.datetime(2026, 12, 6, 11, 30, tzinfo=dt.UTC)  # Sunday: no
    assert item.escalate_at == item.deadline_at                               # working days
    assert (item.status, item.escalation_level, item.escalated_at) == ("received", 0, None)


@pytest.mark.parametrize(("actor", "kw", "needle"), [
    ("farmer", {"channel": "fax"}, "Feedback channel fax"),
    ("farmer", {"kind": "praise"}, "Feedback kind praise"),
    ("farmer", {"text": "   "}, "Please write"),
    ("farmer", {"text": "字" * 2001}, "at most 2000"),
    ("farmer", {"channel": "voice", "text": ""}, "Please write"),
    ("farmer", {"channel": "sms"}, "system"),
    ("farmer", {"channel": "officer"}, "Only village"),
    (None, {"subject_id": None}, "Say which household"),
    (None, {"subject_id": None, "region_code": "330521999999"}, "does not exist"),
    ("farmer", {"region_code": VILLAGE_B}, "does not match"),
    ("village", {"channel": "officer", "subject_id": None, "region_code": VILLAGE_B},
     "outside your area"),
])
def test_bad_input_is_refused_in_both_languages(session: Session, county: County,
                                                actor: str | None, kw: dict[str, object],
                                                needle: str) -> None:
    kw.setdefault("channel", "page" if actor else "sms")
    with pytest.raises(Invalid) as caught:
        _submit(session, county, actor, **kw)  # type: ignore[arg-type]
    both = caught.value.message.both()
    assert needle in both["en"], both
    assert both["zh"] != both["en"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Feedback)) == 0


def test_roles_that_do_not_take_feedback_are_refused(session: Session, county: County) -> None:
    with pytest.raises(Forbidden):
        _submit(session, county, "bank")


def test_text_and_answer_are_encrypted_at_rest(session: Session, county: County) -> None:
    item = _submit(session, county, text="我叫王小明，电话 13800001111")
    service.answer(session, county.users["village"], item.id, "王小明：明天上门",
                   cipher=county.cipher, now=T0 + H)
    raw = session.execute(sa.text("SELECT text_cipher, answer_cipher FROM feedback_items "
                                  "WHERE id = :i"), {"i": item.id}).one()
    for column in raw:
        assert "王小明" not in column and "13800001111" not in column
        assert county.cipher.version_of(column) >= 1
    assert service.text_of(item, county.cipher) == "我叫王小明，电话 13800001111"
    assert service.answer_of(item, county.cipher) == "王小明：明天上门"
    # Bound to its row: the text moved to another row does not open.
    other = _submit(session, county, text="另一条")
    other.text_cipher = item.text_cipher
    with pytest.raises(ValueError):
        service.text_of(other, county.cipher)


def test_the_server_channels_use_the_settings_key_ring(session: Session, county: County,
                                                       tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """SMS and voice call submit without a cipher: the database's ring of the settings is used
    (the county's, here) — and a ring that is not the database's is refused."""
    monkeypatch.setenv("CTOWN_VAR_DIR", str(tmp_path))
    assert (tmp_path / "keys.json").exists()
    item = service.submit(session, None, subject_id=_home(county), channel="sms", text="反馈测试")
    assert service.text_of(item, county.cipher) == "反馈测试"
    assert service.text_of(item, session=session) == "反馈测试"
    monkeypatch.setenv("CTOWN_VAR_DIR", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    FieldCipher.load(tmp_path / "elsewhere" / "keys.json").save()
    with pytest.raises(KeyringError):
        service.submit(session, None, subject_id=_home(county), channel="sms", text="反馈")


# -- answers ---------------------------------------------------------------------------------------
def test_answer_tells_the_sender_by_the_way_they_came(session: Session, county: County) -> None:
    page = _submit(session, county)
    sms = _submit(session, county, None, channel="sms")
    for item in (page, sms):
        service.answer(session, county.users["village"], item.id, "已处理", cipher=county.cipher,
                       now=T0 + 2 * H)
        assert (item.status, item.answered_at, item.answered_by_id, item.escalate_at) == (
            "answered", T0 + 2 * H, county.users["village"].id, None)
    assert _notices(session, page)[-1] == ("in_app", county.users["farmer"].id, None)
    assert _notices(session, sms)[-1] == ("sms", None, _home(county))
    # The answer text is not in the outbox (its parameters are kept in clear).
    params = session.scalars(sa.select(Notification.params).where(
        Notification.ref_kind == "feedback")).all()
    assert all("已处理" not in str(p) for p in params)
    with pytest.raises(Conflict):
        service.answer(session, county.users["village"], page.id, "再答", cipher=county.cipher)
    service.close(session, county.users["village"], page.id)
    assert page.status == "closed"
    with pytest.raises(Conflict):
        service.close(session, county.users["village"], page.id)


def test_empty_answer_is_refused(session: Session, county: County) -> None:
    item = _submit(session, county)
    with pytest.raises(Invalid):
        service.answer(session, county.users["village"], item.id, " ", cipher=county.cipher)


# -- escalation ------------------------------------------------------------------------------------
def test_overdue_feedback_climbs_the_ladder(session: Session, county: County) -> None:
    item = _submit(session, county)
    assert service.escalate_overdue(session, T0 + 47 * H) == []
    assert service.escalate_overdue(session, T0 + 48 * H) == [item]  # at the deadline: late
    assert (item.region_code, item.assigned_role, item.escalation_level) == (
        TOWNSHIP, "township_officer", 1)
    assert item.escalated_at == T0 + 48 * H
    assert item.escalate_at == T0 + 72 * H  # the next step a day later
    assert _notices(session, item)[-1] == ("in_app", county.users["township"].id, None)
    assert service.escalate_overdue(session, T0 + 71 * H) == []
    assert service.escalate_overdue(session, T0 + 73 * H) == [item]
    assert (item.region_code, item.assigned_role, item.escalation_level) == (
        COUNTY, "county_admin", 2)
    assert item.escalate_at is None  # the top: it stays with the county, flagged overdue
    assert _notices(session, item)[-1] == ("in_app", county.users["admin"].id, None)
    assert service.escalate_overdue(session, T0 + 500 * H) == []
    assert item.deadline_at == T0 + 48 * H  # the promise does not move
    assert service.is_overdue(item, T0 + 500 * H)


def test_a_complaint_escalates_from_the_township_and_answered_items_stay(
        session: Session, county: County) -> None:
    complaint = _submit(session, county, kind="complaint")
    answered = _submit(session, county)
    service.answer(session, county.users["village"], answered.id, "好", cipher=county.cipher,
                   now=T0 + 50 * H)
    assert service.escalate_overdue(session, T0 + 49 * H) == [complaint]
    assert (complaint.region_code, complaint.assigned_role, complaint.escalate_at) == (
        COUNTY, "county_admin", None)
    assert (answered.region_code, answered.escalation_level) == (VILLAGE_A, 0)


# -- the figure ----------------------------------------------------------------------------------
def test_response_timeliness_against_hand_counted_cases(session: Session, county: County) -> None:
    """Seven items, deadlines T0+48h unless said; counted at T0+60h over [T0, T0+100h):
    a on time; b answered late; c open and overdue; d answered early with its deadline still
    ahead (counts); e open, deadline ahead (not yet due: nowhere); f deadline before the window;
    g on time in village B (excluded by region A)."""
    village, now = county.users["village"], T0 + 60 * H

    def answered(item: Feedback, at: dt.datetime) -> None:
        service.answer(session, None, item.id, "已答复", cipher=county.cipher, now=at)

    a, b, c = (_submit(session, county) for _ in range(3))
    answered(a, T0 + 47 * H)
    answered(b, T0 + 49 * H)
    d = _submit(session, county, now=T0 + 40 * H)
    answered(d, T0 + 41 * H)
    _e = _submit(session, county, now=T0 + 30 * H)
    f = _submit(session, county, now=T0 - 49 * H)
    answered(f, T0 - 2 * H)
    g = _submit(session, county, "village2", channel="officer", subject_id=None)
    answered(g, T0 + H)
    _ = (c, village)
    until = T0 + 100 * H
    assert service.response_timeliness(session, None, VILLAGE_A, T0, until, now=now) == (
        2, 4, 0.5)  # a, d on time of a, b, c, d
    assert service.response_timeliness(session, None, None, T0, until, now=now) == (3, 5, 0.6)
    assert service.response_timeliness(session, None, TOWNSHIP, T0, until, now=now) == (
        3, 5, 0.6)
    assert service.response_timeliness(session, None, VILLAGE_A, T0 + 200 * H, T0 + 300 * H,
                                       now=now) == (0, 0, None)
    # The village officer of B counts only B's; the farmer has no figure.
    assert service.response_timeliness(session, county.users["village2"], None, T0, until,
                                       now=now) == (1, 1, 1.0)
    with pytest.raises(Forbidden):
        service.response_timeliness(session, county.users["farmer"], None, T0, until)


def test_routing_file_is_validated() -> None:
    rules = routing.load()
    assert (rules.deadline, rules.escalate_every) == (48 * H, 24 * H)
    with pytest.raises(Invalid) as caught:
        routing.parse("deadline_hours: 48\nescalate_every_hours: 24\nrules:\n"
                      "  - {kind: feedback, level: village, role: bank_officer}\n"
                      "escalation:\n  - {level: county, role: county_admin}\n")
    assert "bank_officer" in caught.value.message.both()["en"]
    with pytest.raises(Invalid):
        routing.parse("deadline_hours: 48\nescalate_every_hours: 24\nrules:\n"
                      "  - {kind: feedback, level: village, role: village_officer}\n"
                      "escalation:\n  - {level: county, role: county_admin}\n")  # no complaint


def test_the_county_folder_replaces_the_routing(tmp_path: Path) -> None:
    """feedback_routing.yaml in the configuration folder is the rule in effect, and ``ctown
    config check`` names a wrong one with its line."""
    from ctown import configdir
    from ctown.config.checks import View, run

    own = ("deadline_hours: 24\nescalate_every_hours: 12\nrules:\n"
           "  - {kind: complaint, level: county, role: county_admin}\n"
           "  - {kind: feedback, level: village, role: village_officer}\n"
           "escalation:\n  - {level: township, role: township_officer}\n"
           "  - {level: county, role: county_admin}\n")
    (tmp_path / "feedback_routing.yaml").write_text(own, encoding="utf-8")
    configdir.configure(tmp_path)
    try:
        rules = routing.load()
        assert (rules.deadline, rules.route("complaint", "sms").level) == (24 * H, "county")
        assert run(View(configdir.merged(configdir.folder_files(tmp_path)))) == []
        (tmp_path / "feedback_routing.yaml").write_text(
            own.replace("role: county_admin}\n  - {kind: feedback", "role: farmer}\n"
                        "  - {kind: feedback"), encoding="utf-8")
        problems = run(View(configdir.merged(configdir.folder_files(tmp_path))))
        assert len(problems) == 1 and "feedback_routing.yaml" in str(problems[0])
    finally:
        configdir.reset()
    assert routing.load().deadline == 48 * H


def test_key_rotation_rewrites_the_text_and_the_answer(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Declared in Capability.encrypted: ``ctown keys rotate`` re-encrypts both columns and the
    old key version can be retired."""
    from ctown.db import make_engine, session_factory
    from ctown.privacy import rotation

    engine = make_engine(db_factory.migrated_url())
    factory = session_factory(engine)
    cipher = FieldCipher.load(tmp_path / "keys.json")
    with factory.begin() as session:
        county = build_county(session, cipher, households=1)
        item = _submit(session, county, text="王小明 13800001111")
        service.answer(session, county.users["village"], item.id, "已上门", cipher=cipher)
        item_id = item.id
    assert rotation.rotate(factory, cipher).complete
    with factory.begin() as session:
        found = session.get(Feedback, item_id)
        assert found is not None
        assert found.text_cipher.startswith("2:") and (found.answer_cipher or "").startswith("2:")
        assert service.text_of(found, cipher) == "王小明 13800001111"
        assert service.answer_of(found, cipher) == "已上门"
        assert 1 in rotation.retire_unused(session, cipher)
    engine.dispose()
