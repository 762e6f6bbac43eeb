"""Registry on both databases: bulk loads, encryption at rest, change events, scope."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_B, build_county, people_frame, resident_id

from ctown.access.scope import get_subject_for, scope_subjects
from ctown.accounts.models import AccessLog
from ctown.crypto import FieldCipher
from ctown.errors import NotFound
from ctown.registry import queries
from ctown.registry.models import ChangeEvent, Subject
from ctown.registry.service import find_person_by_resident_id, resident_id_of, verify_event
from ctown.registry.tasks import resolve, upsert_people


@pytest.fixture
def cipher(tmp_path: Path) -> FieldCipher:
    return FieldCipher.load(tmp_path / "keys.json")


def test_households_and_members_are_created(session: Session, cipher: FieldCipher) -> None:
    build_county(session, cipher, households=3)
    households = session.scalars(sa.select(Subject).where(
        Subject.kind == "household", Subject.region_code == VILLAGE_A)).all()
    assert len(households) == 3
    assert {m.relation for m in households[0].members} == {"户主", "配偶"}
    assert households[0].name == households[0].members[0].name  # named after the head
    collectives = session.scalar(sa.select(sa.func.count()).where(Subject.kind == "collective"))
    assert collectives == 3


def test_identifiers_are_encrypted_and_found_by_blind_index(session: Session,
                                                           cipher: FieldCipher) -> None:
    build_county(session, cipher, households=2)
    frame = people_frame(2, VILLAGE_A)
    rid = frame["resident_id"][0]
    person = find_person_by_resident_id(session, cipher, rid.lower())
    assert person is not None and resident_id_of(cipher, person) == rid
    stored = session.execute(sa.text("SELECT id_cipher, id_index, phone_cipher FROM subjects "
                                     "WHERE id = :i"), {"i": person.id}).one()
    assert rid not in "".join(stored)
    assert "13800000000" not in (stored.phone_cipher or "")


def test_ciphertext_moved_to_another_row_does_not_decrypt(session: Session,
                                                         cipher: FieldCipher) -> None:
    from ctown.crypto import DecryptionError

    build_county(session, cipher, households=2)
    a, b = session.scalars(sa.select(Subject).where(Subject.kind == "person").limit(2)).all()
    a.id_cipher = b.id_cipher
    with pytest.raises(DecryptionError):
        resident_id_of(cipher, a)


def test_reload_is_idempotent_and_changes_are_events(session: Session, cipher: FieldCipher) -> None:
    build_county(session, cipher, households=2)
    before = session.scalar(sa.select(sa.func.count()).select_from(ChangeEvent))
    counts = upsert_people(session, cipher, people_frame(2, VILLAGE_A), actor=None, source="t")
    assert counts == {"households_created": 0, "persons_created": 0, "persons_updated": 0}
    assert session.scalar(sa.select(sa.func.count()).select_from(ChangeEvent)) == before
    moved = people_frame(2, VILLAGE_A).with_columns(
        name=sa.literal("x").value if False else people_frame(2, VILLAGE_A)["name"] + "改")
    counts = upsert_people(session, cipher, moved, actor=None, source="t2")
    assert counts["persons_updated"] == 4
    events = session.scalars(sa.select(ChangeEvent).where(ChangeEvent.source == "t2")).all()
    assert len(events) == 4 and all(verify_event(e) for e in events)
    assert all("resident_id" not in e.payload and "id_index" in e.payload for e in events)


def test_event_digest_detects_alteration(session: Session, cipher: FieldCipher) -> None:
    build_county(session, cipher, households=1)
    event = session.scalars(sa.select(ChangeEvent).limit(1)).one()
    assert verify_event(event)
    event.source = "forged"
    assert not verify_event(event)


def test_resolve_person_to_household(session: Session, cipher: FieldCipher) -> None:
    build_county(session, cipher, households=2)
    frame = people_frame(2, VILLAGE_A)
    spouse = frame.filter(frame["relation"] == "配偶")["resident_id"][0]
    found = resolve(session, cipher, "resident_id", [spouse], subject_kind="household")
    household = session.get(Subject, found[spouse])
    assert household is not None and household.kind == "household"
    unknown = resident_id(__import__("datetime").date(1980, 1, 1), 999)
    assert unknown not in resolve(session, cipher, "resident_id", [unknown])


def test_village_officer_cannot_read_list_or_guess_another_village(session: Session,
                                                                   cipher: FieldCipher) -> None:
    county = build_county(session, cipher, households=3)
    officer = county.users["village"]
    listed = session.scalars(scope_subjects(sa.select(Subject), officer)).all()
    assert listed and all(s.region_code == VILLAGE_A for s in listed)
    other = session.scalars(sa.select(Subject.id).where(Subject.region_code == VILLAGE_B)).all()
    for sid in other:  # guessing every id of the other village
        with pytest.raises(NotFound):
            get_subject_for(session, officer, sid)
    page = queries.list_subjects(session, officer, cipher,
                                 queries.SubjectFilter(region=VILLAGE_B))
    assert page.total == 0
    denied = session.scalar(sa.select(sa.func.count()).select_from(AccessLog)
                            .where(AccessLog.event == "denied", AccessLog.user_id == officer.id))
    assert denied == len(other)


def test_scope_by_role(session: Session, cipher: FieldCipher) -> None:
    county = build_county(session, cipher, households=3)

    def visible(user: str) -> int:
        return len(session.scalars(scope_subjects(
            sa.select(Subject).where(Subject.kind == "household"), county.users[user])).all())

    assert visible("admin") == 9
    assert visible("township") == 6
    assert visible("village") == 3
    assert visible("farmer") == 1
    assert visible("proxy") == 0
    assert visible("feed") == 0


def test_masking_by_role(session: Session, cipher: FieldCipher) -> None:
    county = build_county(session, cipher, households=1)
    hid = county.users["farmer"].subject_id
    assert hid is not None
    rid = people_frame(1, VILLAGE_A)["resident_id"][0]
    clear = queries.subject_detail(session, county.users["village"], cipher, hid)
    assert clear.members[0].resident_id == rid
    masked = queries.subject_detail(session, county.users["admin"], cipher, hid)
    assert masked.members[0].resident_id == rid[:4] + "*" * 10 + rid[-4:]
    assert masked.members[0].phone == "138****0000"
    own = queries.subject_detail(session, county.users["farmer"], cipher, hid)
    assert own.members[0].resident_id == rid
