"""C2SP signed notes and tlog checkpoints (https://c2sp.org/signed-note, /tlog-checkpoint).

The same formats as Go's ``golang.org/x/mod/sumdb/note`` and the transparency-dev tools, so a
checkpoint of this ledger can be verified by software that has never heard of ctown::

    <origin>
    <tree size, decimal>
    <root hash, base64>
    <optional extension lines>

    — <key name> <base64(key hash (4 bytes) || Ed25519 signature)>

A key is named by its verifier key ``<name>+<hex8 key hash>+<base64(0x01 || public key)>``; the key
hash is the first four bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``. Only the standard
library and ``cryptography`` are used (the standalone verifier imports this module).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ALG_ED25519 = 0x01
SIG_PREFIX = "— "  # U+2014 EM DASH and a space
MAX_SIGNATURES = 100


class NoteError(ValueError):
    """A malformed note or key, or a signature that a known key rejects."""


class UnverifiedNote(NoteError):
    """Well-formed, but no signature is by a key the reader trusts."""

    def __init__(self, note: Note) -> None:
        super().__init__("note has no verifiable signatures")
        self.note = note


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise NoteError("malformed base64") from exc


def is_valid_name(name: str) -> bool:
    """Key names are non-empty and contain no whitespace (Unicode) and no ``+``."""
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def key_hash(name: str, key: bytes) -> int:
    """First four bytes (big-endian) of ``SHA-256(name || "\\n" || key)``; key includes its type."""
    return int.from_bytes(hashlib.sha256(name.encode() + b"\n" + key).digest()[:4], "big")


def _raw_public(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


@dataclass(frozen=True)
class Verifier:
    name: str
    key_hash: int
    public_key: Ed25519PublicKey

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse ``name+hex8+base64(0x01||pubkey)``; the stated hash must match the key."""
        parts = vkey.strip().split("+", 2)  # base64 may itself contain "+"
        if len(parts) != 3 or not is_valid_name(parts[0]) or len(parts[1]) != 8:
            raise NoteError("malformed verifier key")
        name, hash_hex, key_b64 = parts
        try:
            stated = int(hash_hex, 16)
        except ValueError:
            raise NoteError("malformed verifier key") from None
        key = _b64decode(key_b64)
        if len(key) != 33 or key[0] != ALG_ED25519:
            raise NoteError("unsupported or malformed verifier key")
        if stated != key_hash(name, key) or hash_hex != hash_hex.lower():
            raise NoteError("verifier key hash does not match the key")
        return cls(name, stated, Ed25519PublicKey.from_public_bytes(key[1:]))

    @classmethod
    def from_public_key(cls, name: str, pub: Ed25519PublicKey) -> Verifier:
        if not is_valid_name(name):
            raise NoteError(f"invalid key name {name!r}")
        return cls(name, key_hash(name, bytes([ALG_ED25519]) + _raw_public(pub)), pub)

    @property
    def vkey(self) -> str:
        key = bytes([ALG_ED25519]) + _raw_public(self.public_key)
        return f"{self.name}+{self.key_hash:08x}+{base64.b64encode(key).decode()}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    name: str
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls, name: str) -> Signer:
        if not is_valid_name(name):
            raise NoteError(f"invalid key name {name!r}")
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse Go's private key form ``PRIVATE+KEY+name+hex8+base64(0x01||seed)``."""
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"] or not is_valid_name(parts[2]):
            raise NoteError("malformed signer key")
        name, hash_hex, key_b64 = parts[2:]
        key = _b64decode(key_b64)
        if len(key) != 33 or key[0] != ALG_ED25519 or len(hash_hex) != 8:
            raise NoteError("unsupported or malformed signer key")
        signer = cls(name, Ed25519PrivateKey.from_private_bytes(key[1:]))
        if f"{signer.verifier.key_hash:08x}" != hash_hex:
            raise NoteError("signer key hash does not match the key")
        return signer

    @property
    def verifier(self) -> Verifier:
        return Verifier.from_public_key(self.name, self.private_key.public_key())

    @property
    def skey(self) -> str:
        seed = self.private_key.private_bytes(serialization.Encoding.Raw,
                                              serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())
        body = base64.b64encode(bytes([ALG_ED25519]) + seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_hash:08x}+{body}"

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


@dataclass(frozen=True)
class Signature:
    name: str
    key_hash: int
    b64: str  # base64 of key hash || signature, as on the line

    def line(self) -> str:
        return f"{SIG_PREFIX}{self.name} {self.b64}\n"


@dataclass
class Note:
    text: str
    sigs: list[Signature] = field(default_factory=list)
    unverified: list[Signature] = field(default_factory=list)


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text:
        raise NoteError("malformed note")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise NoteError("malformed note")


def sign(text: str, *signers: Signer, keep: Sequence[Signature] = ()) -> str:
    """The signed note: text, a blank line, one signature line per signer (plus ``keep``)."""
    _check_text(text)
    message = text.encode()
    lines = [s.line() for s in keep]
    for signer in signers:
        raw = struct.pack(">I", signer.verifier.key_hash) + signer.sign(message)
        lines.append(Signature(signer.name, signer.verifier.key_hash,
                               base64.b64encode(raw).decode()).line())
    return text + "\n" + "".join(lines)


def parse(msg: str | bytes) -> tuple[str, list[Signature]]:
    """Split a signed note into its text and signature lines (signatures not checked)."""
    if isinstance(msg, bytes):
        try:
            msg = msg.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("malformed note") from None
    if any(ord(c) < 0x20 and c != "\n" for c in msg) or "\ufffd" in msg:
        raise NoteError("malformed note")
    split = msg.rfind("\n\n")
    if split < 0 or not msg.endswith("\n"):
        raise NoteError("malformed note")
    text, block = msg[: split + 1], msg[split + 2:]
    sigs: list[Signature] = []
    for line in block[:-1].split("\n"):
        if not line.startswith(SIG_PREFIX):
            raise NoteError("malformed note")
        name, sep, b64 = line[len(SIG_PREFIX):].partition(" ")
        if not sep or not is_valid_name(name) or " " in b64:
            raise NoteError("malformed note")
        raw = _b64decode(b64)
        if len(raw) < 5:
            raise NoteError("malformed note")
        sigs.append(Signature(name, struct.unpack(">I", raw[:4])[0], b64))
    if len(sigs) > MAX_SIGNATURES:
        raise NoteError("malformed note")
    return text, sigs


def open_note(msg: str | bytes, verifiers: Iterable[Verifier]) -> Note:
    """Parse a signed note and check its signatures against the trusted ``verifiers``.

    Raises :class:`UnverifiedNote` when no signature is by a trusted key, :class:`NoteError` when
    the note is malformed or a trusted key's signature does not verify.
    """
    text, sigs = parse(msg)
    by_id: dict[tuple[str, int], list[Verifier]] = {}
    for v in verifiers:
        by_id.setdefault((v.name, v.key_hash), []).append(v)
    note = Note(text)
    message = text.encode()
    seen: set[Signature] = set()
    for sig in sigs:
        if sig in seen:
            continue
        seen.add(sig)
        matches = by_id.get((sig.name, sig.key_hash), [])
        if not matches:
            note.unverified.append(sig)
            continue
        if len({m.vkey for m in matches}) > 1:
            raise NoteError(f"ambiguous key {sig.name}+{sig.key_hash:08x}")
        if not matches[0].verify(message, _b64decode(sig.b64)[4:]):
            raise NoteError(f"invalid signature for key {sig.name}+{sig.key_hash:08x}")
        note.sigs.append(sig)
    if not note.sigs:
        raise UnverifiedNote(note)
    return note


# -- checkpoints ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    """The body of a tlog checkpoint: which log, how many leaves, which root."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), base64.b64encode(self.root_hash).decode(),
                 *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        if not text.endswith("\n"):
            raise NoteError("malformed checkpoint")
        lines = text[:-1].split("\n")
        if len(lines) < 3 or not lines[0] or any(not x for x in lines[3:]):
            raise NoteError("malformed checkpoint")
        size_text = lines[1]
        if not size_text.isascii() or not size_text.isdigit() or (
                len(size_text) > 1 and size_text[0] == "0"):
            raise NoteError("malformed checkpoint size")
        size = int(size_text)
        if size >= 1 << 64:
            raise NoteError("malformed checkpoint size")
        return cls(lines[0], size, _b64decode(lines[2]), tuple(lines[3:]))


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    return sign(checkpoint.text(), signer)


def open_checkpoint(msg: str | bytes, verifier: Verifier) -> tuple[Checkpoint, Note]:
    """Verify a signed checkpoint by ``verifier`` and parse its body; raises :class:`NoteError`."""
    note = open_note(msg, [verifier])
    return Checkpoint.parse(note.text), note
