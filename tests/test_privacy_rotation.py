"""Key rotation on both databases: interrupted half-way, resumed by a new process, old version
retired once unused, the blind index working throughout. (Interrupted here by stopping after a
number of batches; a real SIGKILL of ``ctown keys rotate``: tests/test_crash_windows.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.factories import build_county, resident_id

from ctown.crypto import DecryptionError, FieldCipher
from ctown.db import make_engine, session_factory
from ctown.privacy import rotation
from ctown.privacy.models import AuditEvent
from ctown.registry.models import Subject
from ctown.registry.service import find_person_by_resident_id, phone_of, resident_id_of


def _clear_values(factory, cipher: FieldCipher) -> dict[int, tuple[str | None, str | None]]:  # type: ignore[no-untyped-def]
    with factory() as session:
        people = session.scalars(sa.select(Subject).where(Subject.kind == "person")).all()
        return {p.id: (resident_id_of(cipher, p), phone_of(cipher, p)) for p in people}


def test_rotation_interrupted_resumed_and_retired(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_factory.migrated_url())
    factory = session_factory(engine)
    keyring = tmp_path / "keys.json"
    cipher = FieldCipher.load(keyring)
    with factory.begin() as session:
        build_county(session, cipher, households=4)
    before = _clear_values(factory, cipher)
    assert len(before) == 24

    # First run stops after two batches of five: what a crash half-way looks like.
    first = rotation.rotate(factory, cipher, batch=5, max_batches=2)
    assert first.added_version and first.active_version == 2
    assert first.rewritten == 10 and first.remaining > 0 and not first.complete
    assert set(first.per_version) == {1, 2}

    # A new process reads the key ring from disk: every value still decrypts, look-ups work.
    reloaded = FieldCipher.load(keyring)
    assert reloaded.active_version == 2 and reloaded.key_versions == [1, 2]
    assert _clear_values(factory, reloaded) == before
    with factory() as session:
        someone = find_person_by_resident_id(session, reloaded, resident_id(
            __import__("datetime").date(1950, 1, 1), 1))
        assert someone is not None

    # Running again resumes (no third version) and finishes.
    second = rotation.rotate(factory, reloaded, batch=5)
    assert not second.added_version and second.active_version == 2 and second.complete
    assert second.per_version == {2: sum(first.per_version.values())}

    with factory.begin() as session:
        old_token = session.scalar(sa.select(Subject.id_cipher).where(
            Subject.id_cipher.is_not(None)).limit(1))
        assert old_token is not None and old_token.startswith("2:")
        assert rotation.retire_unused(session, reloaded) == [1]
    final = FieldCipher.load(keyring)
    assert final.key_versions == [2]
    assert _clear_values(factory, final) == before
    with pytest.raises(DecryptionError):
        final.decrypt("1:" + old_token.split(":", 1)[1], "subjects.id_cipher:x")
    with factory() as session:
        actions = set(session.scalars(sa.select(AuditEvent.action)))
    assert {"keys.rotate", "keys.retire"} <= actions
    engine.dispose()


def test_rotation_never_overwrites_a_concurrent_edit(db_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(db_factory.migrated_url())
    factory = session_factory(engine)
    cipher = FieldCipher.load(tmp_path / "keys.json")
    with factory.begin() as session:
        build_county(session, cipher, households=1)
    cipher.add_version()
    base = rotation.encrypted_columns()[0]
    edited: dict[str, object] = {}

    with factory.begin() as session:
        def aad_and_meanwhile(row: dict[str, object]) -> str:
            aad = base.aad(row)
            if not edited:  # the running platform rewrites this row between read and write
                edited["id"], edited["aad"] = row["id"], aad
                session.execute(sa.update(Subject).where(Subject.id == row["id"]).values(
                    id_cipher=cipher.encrypt("330521195001010012", aad)))
            return aad

        col = rotation.EncryptedColumn(base.table, base.column, base.key, aad_and_meanwhile,
                                       base.needs)
        written, raced, seen = rotation._rotate_batch(session, col, cipher, 100)
        assert raced == 1 and written == seen - 1
        kept = session.scalar(sa.select(Subject.id_cipher).where(Subject.id == edited["id"]))
        assert cipher.decrypt(kept or "", str(edited["aad"])) == "330521195001010012"
    engine.dispose()


def test_a_rotation_killed_after_saving_the_ring_is_audited_when_resumed(db_factory,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    """The ring is saved (a file) before the audit event commits: a process killed in between
    left version 2 unaudited; the run that resumes it records it, once. (The real SIGKILL of
    ``ctown keys rotate`` in that window: tests/test_crash_windows.py.)"""
    engine = make_engine(db_factory.migrated_url())
    factory = session_factory(engine)
    keyring = tmp_path / "keys.json"
    cipher = FieldCipher.load(keyring)
    with factory.begin() as session:
        build_county(session, cipher, households=1)
    cipher.add_version()
    cipher.save()  # what the killed run left: the ring saved, nothing committed

    def audited() -> list[object]:
        with factory() as session:
            return [d for d in session.scalars(sa.select(AuditEvent.detail).where(
                AuditEvent.action == "keys.rotate"))]

    assert audited() == []
    resumed = rotation.rotate(factory, FieldCipher.load(keyring))
    assert not resumed.added_version and resumed.complete
    assert audited() == [{"version": 2}]
    rotation.rotate(factory, FieldCipher.load(keyring), new_version=False)
    assert audited() == [{"version": 2}]
    engine.dispose()
