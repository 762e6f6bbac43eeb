"""Collection points on both databases: exactly once, and refused when altered, replayed, unknown,
revoked or sealed to another county — each refusal logged with a zh/en reason."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy.orm import Session
from tests.factories import VILLAGE_A, VILLAGE_B, County, build_county, people_frame

from ctown.catalogue.service import load_catalogue
from ctown.collection import protocol
from ctown.collection.models import CollectionBatch, Terminal, UploadLog
from ctown.collection.protocol import Record
from ctown.collection.service import Refused, receive_batch, register_terminal, revoke_terminal
from ctown.crypto import FieldCipher
from ctown.errors import Forbidden, NotFound
from ctown.registry.models import ChangeEvent

TODAY = dt.date(2026, 11, 24)


@pytest.fixture
def county(session: Session, tmp_path: Path) -> County:
    return build_county(session, FieldCipher.load(tmp_path / "keys.json"), households=3)


@pytest.fixture
def county_key() -> X25519PrivateKey:
    return X25519PrivateKey.generate()


@pytest.fixture
def terminal_key(session: Session, county: County) -> Ed25519PrivateKey:
    key = Ed25519PrivateKey.generate()
    register_terminal(session, actor=county.users["admin"], via="admin", name="五四村采集点",
                      public_key=protocol.b64e(protocol.raw_public(key.public_key())),
                      village_code=VILLAGE_A)
    return key


def head_id(village: str = VILLAGE_A, start: int = 0) -> str:
    return str(people_frame(1, village, start)["resident_id"][0])


def good_records() -> list[Record]:
    return [
        Record(f"H{VILLAGE_A[-6:]}00000", "I1101", "1", "2026-11-20", "王信息员"),
        Record(head_id(), "I1102", "12.5", "2026-11-20", "王信息员"),
        Record(f"H{VILLAGE_A[-6:]}00001", "I1103", "99", "2026-11-20", "王信息员"),   # > max 50
        Record(f"H{VILLAGE_B[-6:]}00100", "I1101", "2", "2026-11-20", "王信息员"),  # other village
        Record(f"H{VILLAGE_A[-6:]}00002", "I0501", "1000", "2026-11-20", "王信息员"),  # bank's
        Record(f"H{VILLAGE_A[-6:]}00002", "I1104", "88", "2030-01-01", "王信息员"),    # future
        Record(f"H{VILLAGE_A[-6:]}00002", "I0401", "50000", "2026-11-20", "王信息员"),  # consent
    ]


def receive(session: Session, county: County, key: X25519PrivateKey, envelope: bytes):
    return receive_batch(session, envelope, county_key=key, cipher=county.cipher,
                         catalogue=load_catalogue(), client="test", today=TODAY)


def refusal(session: Session, county: County, key: X25519PrivateKey, envelope: bytes) -> Refused:
    with pytest.raises(Refused) as caught:
        receive(session, county, key, envelope)
    last = session.scalars(sa.select(UploadLog).order_by(UploadLog.id.desc())).first()
    assert last is not None and last.outcome == "refused" and last.code == caught.value.code
    assert last.reason_zh and last.reason_en and last.reason_zh != last.reason_en
    return caught.value


def test_batch_accepted_once_and_values_enter_the_credit_file(
        session: Session, county: County, county_key: X25519PrivateKey,
        terminal_key: Ed25519PrivateKey) -> None:
    from ctown.ingest.models import CurrentValue

    envelope = protocol.pack(good_records(), terminal_key=terminal_key,
                             county_key=county_key.public_key())
    receipt = receive(session, county, county_key, envelope)
    assert (receipt.records, receipt.accepted, receipt.rejected) == (7, 2, 5)
    assert [r["row"] for r in receipt.rejections] == [3, 4, 5, 6, 7]
    assert "授权" in receipt.rejections[-1]["reason"]["zh"]
    assert all(r["reason"]["zh"] and r["reason"]["en"] for r in receipt.rejections)
    # No clear identifier is kept in a reason.
    assert head_id() not in json.dumps(receipt.rejections, ensure_ascii=False)
    values = session.execute(sa.select(CurrentValue.indicator_code, CurrentValue.value_num,
                                       CurrentValue.value_text, CurrentValue.department)
                             .where(CurrentValue.indicator_code.in_(["I1101", "I1102"]))).all()
    assert sorted((v[0], v[3]) for v in values) == [("I1101", "village"), ("I1102", "village")]
    assert {v[0]: (v[1], v[2]) for v in values}["I1102"][0] == pytest.approx(12.5)
    stored = session.scalar(sa.select(CollectionBatch))
    assert stored is not None and stored.credit_batch_id == receipt.credit_batch_id
    assert stored.officers == ["王信息员"]

    again = refusal(session, county, county_key, envelope)
    assert again.code == "replay" and again.already_accepted and again.status_code == 409
    assert session.scalar(sa.select(sa.func.count()).select_from(CollectionBatch)) == 1


def test_altered_batches_are_refused(session: Session, county: County,
                                     county_key: X25519PrivateKey,
                                     terminal_key: Ed25519PrivateKey) -> None:
    envelope = json.loads(protocol.pack(good_records()[:1], terminal_key=terminal_key,
                                        county_key=county_key.public_key()))
    sealed = bytearray(protocol.b64d(envelope["sealed"]))
    sealed[-20] ^= 0x01
    flipped = {**envelope, "sealed": protocol.b64e(bytes(sealed))}
    assert refusal(session, county, county_key, json.dumps(flipped).encode()).code == "tampered"
    renamed = {**envelope, "batch_id": "another-batch-id"}
    assert refusal(session, county, county_key, json.dumps(renamed).encode()).code == "tampered"
    assert refusal(session, county, county_key, b"{not json").code == "malformed"
    assert session.scalar(sa.select(sa.func.count()).select_from(CollectionBatch)) == 0
    # The untouched original is still accepted afterwards.
    assert receive(session, county, county_key, json.dumps(envelope).encode()).accepted == 1


def test_signature_by_another_key_is_refused(session: Session, county: County,
                                            county_key: X25519PrivateKey,
                                            terminal_key: Ed25519PrivateKey) -> None:
    """Someone who knows a registered terminal's id but not its key cannot sign for it."""
    registered = protocol.terminal_id_for(protocol.raw_public(terminal_key.public_key()))
    forger = Ed25519PrivateKey.generate()
    header = {"format": protocol.FORMAT, "terminal": registered, "batch_id": "forged-0001",
              "nonce": protocol.b64e(secrets.token_bytes(16)),
              "county_key": protocol.fingerprint(protocol.raw_public(county_key.public_key()))}
    payload = json.dumps({**header, "created_at": "2026-11-24T00:00:00+00:00",
                          "records": [r.as_json() for r in good_records()[:1]]}).encode()
    plain = forger.sign(protocol.SIGN_CONTEXT + payload) + payload
    sealed = protocol._SUITE.encrypt(plain, county_key.public_key(), info=protocol.info_for(header))
    envelope = json.dumps({**header, "sealed": protocol.b64e(sealed)}).encode()
    assert refusal(session, county, county_key, envelope).code == "bad_signature"


def test_unknown_and_revoked_terminals_are_refused(session: Session, county: County,
                                                  county_key: X25519PrivateKey,
                                                  terminal_key: Ed25519PrivateKey) -> None:
    stranger = protocol.pack(good_records()[:1], terminal_key=Ed25519PrivateKey.generate(),
                             county_key=county_key.public_key())
    assert refusal(session, county, county_key, stranger).code == "unknown_terminal"
    terminal_id = protocol.terminal_id_for(protocol.raw_public(terminal_key.public_key()))
    revoke_terminal(session, actor=county.users["admin"], terminal_id=terminal_id,
                    reason="设备遗失")
    packed = protocol.pack(good_records()[:1], terminal_key=terminal_key,
                           county_key=county_key.public_key())
    refused = refusal(session, county, county_key, packed)
    assert refused.code == "revoked_terminal" and "设备遗失" in refused.message.both()["zh"]
    assert session.scalar(sa.select(sa.func.count()).select_from(ChangeEvent).where(
        ChangeEvent.entity == "collection_terminal")) == 2


def test_other_county_key_and_reused_batch_id_are_refused(
        session: Session, county: County, county_key: X25519PrivateKey,
        terminal_key: Ed25519PrivateKey) -> None:
    other = X25519PrivateKey.generate().public_key()
    wrong = protocol.pack(good_records()[:1], terminal_key=terminal_key, county_key=other)
    assert refusal(session, county, county_key, wrong).code == "wrong_county"
    first = protocol.pack(good_records()[:1], terminal_key=terminal_key,
                          county_key=county_key.public_key(), batch_id="batch-2026-0001")
    receive(session, county, county_key, first)
    second = protocol.pack(good_records()[:1], terminal_key=terminal_key,
                           county_key=county_key.public_key(), batch_id="batch-2026-0001")
    refused = refusal(session, county, county_key, second)
    assert refused.code == "reused_batch" and not refused.already_accepted


def test_who_may_register_and_revoke(session: Session, county: County) -> None:
    def key() -> str:
        return protocol.b64e(protocol.raw_public(Ed25519PrivateKey.generate().public_key()))

    users = county.users
    with pytest.raises(Forbidden):
        register_terminal(session, actor=users["village2"], via="web", name="x", public_key=key(),
                          village_code=VILLAGE_A)
    with pytest.raises(Forbidden):
        register_terminal(session, actor=users["bank"], via="admin", name="x", public_key=key(),
                          village_code=VILLAGE_A)
    own = register_terminal(session, actor=users["village"], via="web", name="手机",
                            public_key=key(), village_code=VILLAGE_A)
    register_terminal(session, actor=users["township"], via="admin", name="镇", public_key=key(),
                      village_code=VILLAGE_B)
    with pytest.raises(NotFound):
        revoke_terminal(session, actor=users["village2"], terminal_id=own.id, reason="")
    revoke_terminal(session, actor=users["township"], terminal_id=own.id, reason="换机")
    assert session.get(Terminal, own.id).revoked_at is not None


def test_query_count_does_not_grow_with_the_records(session: Session, county: County,
                                                     county_key: X25519PrivateKey,
                                                     terminal_key: Ed25519PrivateKey) -> None:
    from sqlalchemy import event

    def statements(records: list[Record]) -> int:
        envelope = protocol.pack(records, terminal_key=terminal_key,
                                 county_key=county_key.public_key())
        seen: list[str] = []
        bind = session.get_bind()
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(bind, "before_cursor_execute", listener)
        try:
            receive(session, county, county_key, envelope)
        finally:
            event.remove(bind, "before_cursor_execute", listener)
        return len(seen)

    def batch(n: int, code: str) -> list[Record]:
        return [Record(f"H{VILLAGE_A[-6:]}{i % 3:05d}", code, str(i % 50), "2026-11-20", "王")
                for i in range(n)] + [Record(head_id(), code, "1", "2026-11-20", "王")]

    assert statements(batch(2, "I1103")) == statements(batch(40, "I1102"))
