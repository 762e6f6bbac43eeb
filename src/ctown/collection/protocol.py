"""The batch format ``ctown-collect/1`` (采集批次): signed by the terminal, sealed to the county.

A batch file (``.ctb``) is a small JSON envelope::

    {"format": "ctown-collect/1", "terminal": "<terminal id>", "batch_id": "<id>",
     "nonce": "<base64url, 16 bytes>", "county_key": "<fingerprint of the county key>",
     "sealed": "<base64url of HPKE enc || ciphertext>"}

``sealed`` is RFC 9180 HPKE, base mode, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
AES-256-GCM, single shot, with ``info`` = the envelope's header fields (so a header that was
changed no longer decrypts). The plaintext is the terminal's 64-byte Ed25519 signature followed by
the UTF-8 JSON payload (header fields again, ``created_at`` and ``records``); the signature covers
``SIGN_CONTEXT + payload``. Sign-then-encrypt keeps the records and the signer hidden from anyone
but the county; the signature inside binds the records to the terminal's registered key.

The browser collection form implements the same steps with WebCrypto (``static/collect.js``);
both are checked against each other in ``tests/test_collection_browser.py``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

FORMAT = "ctown-collect/1"
SIGN_CONTEXT = b"ctown-collect/1 signature\n"
SUITE_NAME = "HPKE-Base-X25519-SHA256-SHA256-AES256GCM"
MAX_ENVELOPE_BYTES = 4 * 1024 * 1024
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
_TERMINAL_ID = re.compile(r"^[0-9a-f]{20}$")


class EnvelopeError(ValueError):
    """The envelope cannot be opened; ``code`` names why (see ``service.REFUSALS``)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeError("malformed", "bad base64") from exc


def raw_public(key: Ed25519PublicKey | X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def terminal_id_for(public_key: bytes) -> str:
    """A terminal is named by its key: the first 20 hex digits of SHA-256 of the raw public key."""
    return hashlib.sha256(b"ctown-terminal\n" + public_key).hexdigest()[:20]


def fingerprint(public_key: bytes) -> str:
    return hashlib.sha256(b"ctown-county\n" + public_key).hexdigest()[:16]


def parse_ed25519_public(text: str) -> bytes:
    raw = b64d(text.strip())
    if len(raw) != 32:
        raise EnvelopeError("malformed", "an Ed25519 public key has 32 bytes")
    Ed25519PublicKey.from_public_bytes(raw)
    return raw


def parse_x25519_public(text: str) -> X25519PublicKey:
    raw = b64d(text.strip())
    if len(raw) != 32:
        raise EnvelopeError("malformed", "an X25519 public key has 32 bytes")
    return X25519PublicKey.from_public_bytes(raw)


def info_for(header: dict[str, str]) -> bytes:
    fields = (FORMAT, header["terminal"], header["batch_id"], header["nonce"], header["county_key"])
    return "\n".join(fields).encode("utf-8")


@dataclass(frozen=True)
class Record:
    subject: str
    indicator: str
    value: str
    observed_on: str
    officer: str

    def as_json(self) -> dict[str, str]:
        return {"subject": self.subject, "indicator": self.indicator, "value": self.value,
                "observed_on": self.observed_on, "officer": self.officer}


def pack(records: list[Record], *, terminal_key: Ed25519PrivateKey, county_key: X25519PublicKey,
         batch_id: str | None = None, created_at: dt.datetime | None = None) -> bytes:
    """Sign the records with the terminal's key and seal them to the county (the terminal side)."""
    terminal = terminal_id_for(raw_public(terminal_key.public_key()))
    header = {"format": FORMAT, "terminal": terminal, "batch_id": batch_id or uuid.uuid4().hex,
              "nonce": b64e(secrets.token_bytes(16)),
              "county_key": fingerprint(raw_public(county_key))}
    payload = json.dumps({
        **header, "created_at": (created_at or dt.datetime.now(dt.UTC)).isoformat(),
        "records": [r.as_json() for r in records]}, ensure_ascii=False).encode("utf-8")
    signature = terminal_key.sign(SIGN_CONTEXT + payload)
    sealed = _SUITE.encrypt(signature + payload, county_key, info=info_for(header))
    return json.dumps({**header, "sealed": b64e(sealed)}).encode("utf-8")


@dataclass(frozen=True)
class Opened:
    header: dict[str, str]
    payload: dict[str, Any]
    digest: str


def _json(data: bytes, not_json: str) -> Any:
    """Decoded UTF-8 JSON, or a refusal: also for nesting too deep for the decoder (4 MB of
    ``[`` would otherwise raise RecursionError, a server error to an anonymous upload)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError("malformed", not_json) from exc
    except RecursionError as exc:
        raise EnvelopeError("malformed", "nested too deeply") from exc


def read_header(envelope: bytes) -> dict[str, str]:
    """The clear header, checked for shape only (nothing in it is trusted yet)."""
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError("too_large")
    data = _json(envelope, "not JSON")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EnvelopeError("malformed", "not a ctown-collect/1 envelope")
    keys = ("terminal", "batch_id", "nonce", "county_key", "sealed")
    if not all(isinstance(data.get(k), str) for k in keys):
        raise EnvelopeError("malformed", "missing fields")
    if not _TERMINAL_ID.match(data["terminal"]) or not _BATCH_ID.match(data["batch_id"]):
        raise EnvelopeError("malformed", "bad terminal or batch id")
    if len(b64d(data["nonce"])) != 16:
        raise EnvelopeError("malformed", "nonce must be 16 bytes")
    return {k: data[k] for k in ("format", *keys)}


def open_envelope(envelope: bytes, header: dict[str, str], *, county_key: X25519PrivateKey,
                  terminal_public: bytes) -> Opened:
    """Decrypt with the county's key and verify the terminal's signature (the county side)."""
    if header["county_key"] != fingerprint(raw_public(county_key.public_key())):
        raise EnvelopeError("wrong_county")
    try:
        plain = _SUITE.decrypt(b64d(header["sealed"]), county_key, info=info_for(header))
    except (InvalidTag, ValueError) as exc:
        raise EnvelopeError("tampered") from exc
    signature, payload_bytes = plain[:64], plain[64:]
    try:
        Ed25519PublicKey.from_public_bytes(terminal_public).verify(
            signature, SIGN_CONTEXT + payload_bytes)
    except InvalidSignature as exc:
        raise EnvelopeError("bad_signature") from exc
    payload = _json(payload_bytes, "payload is not JSON")
    if not isinstance(payload, dict):
        raise EnvelopeError("malformed", "payload is not a JSON object")
    if any(payload.get(k) != header[k] for k in ("format", "terminal", "batch_id", "nonce")):
        raise EnvelopeError("tampered", "payload does not match the envelope")
    if not isinstance(payload.get("records"), list):
        raise EnvelopeError("malformed", "records missing")
    return Opened(header, payload, hashlib.sha256(envelope).hexdigest())


def new_terminal_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def x25519_from_secret(secret: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(secret)
