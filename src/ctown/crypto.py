"""Field encryption with a versioned key ring (动态加密) and keyed blind indexes.

Each encrypted value is ``<key version>:<base64(nonce || ciphertext+tag)>`` with the table, column
and row as associated data, so a ciphertext copied to another row or column does not decrypt.
Exact look-ups (is this resident ID already registered?) use an HMAC of the normalised value with a
separate index key that does not rotate: rotating it would mean re-indexing every row at once, and
the index reveals nothing without the key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ctown import keyfiles

SUITES = ("intl", "sm")


class DecryptionError(ValueError):
    """A value that does not decrypt with the key ring: altered, moved, or its key is gone."""


def _sm4_gcm_encrypt(key: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
    enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(data) + enc.finalize() + enc.tag


def _sm4_gcm_decrypt(key: bytes, nonce: bytes, blob: bytes, aad: bytes) -> bytes:
    dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, blob[-16:])).decryptor()
    dec.authenticate_additional_data(aad)
    return dec.update(blob[:-16]) + dec.finalize()


@dataclass(frozen=True)
class DataKey:
    version: int
    suite: str
    key: bytes
    retired: bool = False


_INDEX_MEMO_LIMIT = 1_000_000


class FieldCipher:
    """Encrypts and decrypts fields with the active key; decrypts with any non-retired version."""

    def __init__(self, keys: list[DataKey], index_key: bytes, active_version: int,
                 path: Path | None = None) -> None:
        self._keys = {k.version: k for k in keys}
        self._index_key = index_key
        self.active_version = active_version
        self.path = path
        self._mtime = path.stat().st_mtime_ns if path is not None and path.exists() else 0
        self._checked = time.monotonic()
        self._aead: dict[bytes, AESGCM] = {}  # one cipher object per key, not per value
        self._indexes: dict[str, dict[str, str]] = {}

    # -- key ring file -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, suite: str = "intl") -> FieldCipher:
        """The ring at ``path``, made first if there is none (whole or not at all: another
        process making it at the same moment gets the same ring, :mod:`ctown.keyfiles`)."""
        data = json.loads(keyfiles.read_or_create(path, lambda: _new_ring(suite)))
        keys = [DataKey(k["version"], k["suite"], bytes.fromhex(k["key"]), k.get("retired", False))
                for k in data["keys"]]
        return cls(keys, bytes.fromhex(data["index_key"]), data["active"], path)

    def save(self) -> None:
        """Write the key ring back atomically, owner-only (used by key rotation)."""
        assert self.path is not None
        body = {"active": self.active_version, "index_key": self._index_key.hex(),
                "keys": [{"version": k.version, "suite": k.suite, "key": k.key.hex(),
                          "retired": k.retired} for k in sorted(self._keys.values(),
                                                                key=lambda k: k.version)]}
        keyfiles.replace(self.path, json.dumps(body, indent=1).encode())

    def add_version(self, suite: str | None = None) -> int:
        version = max(self._keys) + 1
        suite = suite or self._keys[self.active_version].suite
        self._keys[version] = DataKey(version, suite, _new_key(suite))
        self.active_version = version
        return version

    def retire(self, version: int) -> None:
        if version == self.active_version:
            raise ValueError("the active key version cannot be retired")
        k = self._keys[version]
        self._keys[version] = DataKey(k.version, k.suite, k.key, retired=True)

    @property
    def key_versions(self) -> list[int]:
        return sorted(v for v, k in self._keys.items() if not k.retired)

    @property
    def fingerprint(self) -> str:
        """Names the ring without revealing it: a hash of its blind-index key, the one key that
        never rotates, so the name stays the same across rotations (``ctown.privacy.keyring``)."""
        return hashlib.sha256(b"ctown key ring\x00" + self._index_key).hexdigest()[:32]

    @property
    def suite(self) -> str:
        return self._keys[self.active_version].suite

    def refresh(self) -> None:
        """Pick up a rotation done by another process (``ctown keys rotate``) without a restart.

        The key file is looked at most once a second: bulk loads encrypt thousands of values.
        """
        now = time.monotonic()
        if self.path is None or now - self._checked < 1.0 or not self.path.exists():
            return
        self._checked = now
        mtime = self.path.stat().st_mtime_ns
        if mtime != self._mtime:
            fresh = FieldCipher.load(self.path)
            self._keys, self.active_version, self._mtime = fresh._keys, fresh.active_version, mtime

    # -- values --------------------------------------------------------------------------------
    def encrypt(self, text: str, aad: str) -> str:
        self.refresh()
        key = self._keys[self.active_version]
        nonce = secrets.token_bytes(12)
        if key.suite == "sm":
            blob = _sm4_gcm_encrypt(key.key, nonce, text.encode(), aad.encode())
        else:
            aead = self._aead.get(key.key) or self._aead.setdefault(key.key, AESGCM(key.key))
            blob = aead.encrypt(nonce, text.encode(), aad.encode())
        return f"{key.version}:{base64.b64encode(nonce + blob).decode()}"

    def decrypt(self, token: str, aad: str) -> str:
        version_text, _, body = token.partition(":")
        if version_text.isdigit() and int(version_text) not in self._keys:
            self._checked = 0.0  # an unknown version: look at the key file now
            self.refresh()
        key = self._keys.get(int(version_text)) if version_text.isdigit() else None
        if key is None or key.retired:
            raise DecryptionError(f"key version {version_text} unavailable")
        raw = base64.b64decode(body)
        try:
            if key.suite == "sm":
                return _sm4_gcm_decrypt(key.key, raw[:12], raw[12:], aad.encode()).decode()
            return AESGCM(key.key).decrypt(raw[:12], raw[12:], aad.encode()).decode()
        except InvalidTag:
            raise DecryptionError("value altered or moved to another row") from None

    @staticmethod
    def version_of(token: str) -> int:
        return int(token.partition(":")[0])

    def blind_indexes(self, values: Iterable[str], purpose: str = "resident_id"
                      ) -> dict[str, str]:
        """:meth:`blind_index` of many values, each computed once per process: the same resident
        ID arrives from many departments, and an HMAC per ID per file was most of a look-up's
        cost. The memo is bounded and belongs to this key ring (the index key never rotates)."""
        memo = self._indexes.setdefault(f"{self.suite}:{purpose}", {})  # suite: the HMAC's hash
        values = list(values)
        missing = set(values).difference(memo)
        if len(memo) + len(missing) > _INDEX_MEMO_LIMIT:
            memo.clear()
            missing = set(values)
        memo.update((v, self.blind_index(v, purpose)) for v in missing)
        return {v: memo[v] for v in values}

    def blind_index(self, value: str, purpose: str = "resident_id") -> str:
        """Keyed HMAC of a normalised value; the purpose keeps indexes of different fields apart."""
        digest = hashes.SM3() if self.suite == "sm" else hashes.SHA256()
        if isinstance(digest, hashes.SHA256):
            return hmac.new(self._index_key, f"{purpose}\x00{value}".encode(),
                            hashlib.sha256).hexdigest()
        from cryptography.hazmat.primitives.hmac import HMAC

        h = HMAC(self._index_key, digest)
        h.update(f"{purpose}\x00{value}".encode())
        return h.finalize().hex()


def _new_ring(suite: str) -> bytes:
    body = {"active": 1, "index_key": secrets.token_hex(32),
            "keys": [{"version": 1, "suite": suite, "key": _new_key(suite).hex()}]}
    return json.dumps(body, indent=1).encode()


def _new_key(suite: str) -> bytes:
    if suite not in SUITES:
        raise ValueError(f"unknown cipher suite {suite!r}; expected one of {SUITES}")
    return secrets.token_bytes(16 if suite == "sm" else 32)
