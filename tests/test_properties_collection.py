"""Properties of the collection envelope ``ctown-collect/1`` (#12 item 3),
``ctown.collection.protocol``.

Any bytes give a header or an :class:`EnvelopeError` whose code is one of the refusals the
service answers with a zh/en reason (``collection.service.REFUSALS``). A packed batch opens to
exactly its records; one changed byte anywhere is refused, or — where it changes nothing that is
read (a space of the JSON, padding bits of base64) — opens to the very same records. A payload
the terminal signed, whatever it holds, opens or is refused: never another exception.
"""

from __future__ import annotations

import base64
import json
from functools import cache

import pytest
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from tests.fuzzing import bounded

from ctown.collection import protocol
from ctown.collection.protocol import EnvelopeError, Record
from ctown.collection.service import REFUSALS
from ctown.i18n import Message


@cache
def keys() -> tuple[Ed25519PrivateKey, X25519PrivateKey]:
    """One terminal key and one county key for every example (generated once)."""
    return Ed25519PrivateKey.generate(), X25519PrivateKey.generate()


def terminal_public() -> bytes:
    return protocol.raw_public(keys()[0].public_key())


def refusal(exc: EnvelopeError) -> dict[str, str]:
    """The reason the service gives for the refusal, in both languages."""
    assert exc.code in REFUSALS, exc.code
    both = Message(REFUSALS[exc.code][0], {"detail": exc.detail, "terminal": "t",
                                           "fingerprint": "f"}).both()
    assert both["zh"] and both["en"]
    return both


def opened_records(envelope: bytes) -> list[object] | EnvelopeError:
    try:
        header = protocol.read_header(envelope)
        opened = protocol.open_envelope(envelope, header, county_key=keys()[1],
                                        terminal_public=terminal_public())
    except EnvelopeError as exc:
        refusal(exc)
        return exc
    records = opened.payload["records"]
    assert isinstance(records, list)
    return records


records = st.lists(st.builds(Record, st.text(max_size=20), st.text(max_size=8),
                             st.text(max_size=12), st.text(max_size=10), st.text(max_size=6)),
                   max_size=5)


def pack(batch: list[Record]) -> bytes:
    terminal, county = keys()
    return protocol.pack(batch, terminal_key=terminal, county_key=county.public_key())


# -- any bytes -------------------------------------------------------------------------------------

_FIELDS = [b'{"format": "ctown-collect/1"', b'"terminal": "0123456789abcdef0123"',
           b'"batch_id": "batch-0001"', b'"nonce": "AAAAAAAAAAAAAAAAAAAAAA"',
           b'"county_key": "00"', b'"sealed": "AAAA"', b", ", b"}", b"[", b"\xff", b'"\\ud800"']
envelopes = st.one_of(st.binary(max_size=200),
                      st.lists(st.sampled_from(_FIELDS), max_size=10).map(b"".join),
                      st.recursive(st.none() | st.booleans() | st.integers() | st.text(),
                                   lambda inner: st.lists(inner) | st.dictionaries(st.text(),
                                                                                   inner),
                                   max_leaves=10).map(lambda v: json.dumps(v).encode()))


@bounded(150)
@given(envelopes)
def test_any_bytes_are_a_header_or_a_refusal(envelope: bytes) -> None:
    try:
        header = protocol.read_header(envelope)
    except EnvelopeError as exc:
        refusal(exc)
        return
    assert set(header) == {"format", "terminal", "batch_id", "nonce", "county_key", "sealed"}
    assert opened_records(envelope) is not None  # opening it is refused or works, no exception


@bounded(5)
@given(st.integers(50, 2_000_000))
def test_deep_nesting_is_refused(depth: int) -> None:
    with pytest.raises(EnvelopeError) as caught:
        protocol.read_header(("[" * depth + "]" * depth).encode())
    refusal(caught.value)


# -- round trips -----------------------------------------------------------------------------------

@bounded(60)
@given(records)
def test_a_packed_batch_opens_to_its_records(batch: list[Record]) -> None:
    assert opened_records(pack(batch)) == [r.as_json() for r in batch]


@bounded(100)
@given(records, st.data())
def test_one_changed_byte_is_refused_or_changes_nothing(batch: list[Record],
                                                        data: st.DataObject) -> None:
    envelope = pack(batch)
    at = data.draw(st.integers(0, len(envelope) - 1))
    new = data.draw(st.integers(0, 255).filter(lambda b: b != envelope[at]))
    changed = envelope[:at] + bytes([new]) + envelope[at + 1:]
    got = opened_records(changed)
    assert isinstance(got, EnvelopeError) or got == [r.as_json() for r in batch]


@bounded(40)
@given(records)
def test_another_county_or_another_terminal_is_refused(batch: list[Record]) -> None:
    envelope = pack(batch)
    header = protocol.read_header(envelope)
    with pytest.raises(EnvelopeError) as other_county:
        protocol.open_envelope(envelope, header, county_key=X25519PrivateKey.generate(),
                               terminal_public=terminal_public())
    assert other_county.value.code == "wrong_county"
    with pytest.raises(EnvelopeError) as other_terminal:
        protocol.open_envelope(envelope, header, county_key=keys()[1],
                               terminal_public=protocol.raw_public(
                                   Ed25519PrivateKey.generate().public_key()))
    assert other_terminal.value.code == "bad_signature"


# -- what a registered terminal signs --------------------------------------------------------------

def sealed_payload(payload: bytes) -> bytes:
    """An envelope whose signed plaintext is ``payload``, sealed as RFC 9180 HPKE base mode
    (X25519, HKDF-SHA256, AES-256-GCM) by this test's own code, the header matching."""
    terminal, county = keys()
    header = {"format": protocol.FORMAT, "terminal": protocol.terminal_id_for(terminal_public()),
              "batch_id": "batch-0001", "nonce": protocol.b64e(b"n" * 16),
              "county_key": protocol.fingerprint(protocol.raw_public(county.public_key()))}
    info = "\n".join([header["format"], header["terminal"], header["batch_id"], header["nonce"],
                      header["county_key"]]).encode()
    suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
    plain = terminal.sign(protocol.SIGN_CONTEXT + payload) + payload
    sealed = base64.urlsafe_b64encode(suite.encrypt(plain, county.public_key(), info=info))
    return json.dumps({**header, "sealed": sealed.rstrip(b"=").decode()}).encode()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    header = {"format": protocol.FORMAT, "terminal": protocol.terminal_id_for(terminal_public()),
              "batch_id": "batch-0001", "nonce": protocol.b64e(b"n" * 16)}
    kind = draw(st.sampled_from(["bytes", "value", "object", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=60))
    if kind == "value":
        return json.dumps(draw(json_values)).encode()
    if kind == "deep":
        depth = draw(st.integers(1000, 100_000))
        return ('{"records": ' + "[" * depth + "]" * depth + "}").encode()
    body = draw(st.dictionaries(st.sampled_from(["format", "terminal", "batch_id", "nonce",
                                                 "records", "created_at"]), json_values))
    return json.dumps({**header, **body}).encode()


@bounded(100)
@given(payloads())
def test_whatever_a_terminal_signs_opens_or_is_refused(payload: bytes) -> None:
    got = opened_records(sealed_payload(payload))
    assert isinstance(got, EnvelopeError | list)
