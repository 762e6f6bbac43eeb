"""The backup archive (备份文件): one tar file, every part encrypted with a passphrase.

Layout (a plain POSIX tar, so ``tar -tvf`` lists it without the passphrase)::

    database.sqlite3.enc | database.pgdump.enc   the database (SQLite online backup / pg_dump -Fc)
    keys.enc                                     the key files of var/ (key ring, ledger key, …)
    manifest.json                                in clear: what, when, database kind, Alembic
                                                 revision, rows per table, sha256 of each part,
                                                 the format version and the KDF parameters

Encryption. scrypt (N=2^17, r=8, p=1, random 16-byte salt) turns the passphrase into a master key;
HKDF-SHA256 derives one key per part, a passphrase check value and a MAC key from it. Each part is
AES-256-GCM in 1 MiB chunks (the STREAM construction of age and Tink: nonce = 7 random bytes,
chunk counter, last-chunk flag; the part name is associated data), so a part of any size streams
through a fixed amount of memory, and a truncated, reordered or swapped chunk does not decrypt.
The manifest is in clear (an operator can read what a backup holds without the passphrase) but
carries an HMAC-SHA256 under the passphrase, so nobody can change a count or a sha256 unnoticed.
Restore reads in this order: the check value (a wrong passphrase is told as such), the manifest's
MAC and then every part's sha256 (an altered archive is told as such), and only then decrypts.

Why these and not something else:
- scrypt, not PBKDF2: scrypt is memory-hard (128 MiB per guess here), PBKDF2 is cheap per guess
  on a GPU. Argon2id would serve as well; scrypt has settled parameters for exactly this use (a
  passphrase protecting a file: age uses it) and is also in Python's standard library
  (``hashlib.scrypt``), so an archive can be opened in an emergency with a few lines of code. The
  KDF is named in the manifest: a later format version can change it without orphaning archives.
- AES-256-GCM: authenticated (a wrong key or a changed byte is an error, never silent garbage),
  the primitive the field encryption already uses, hardware-accelerated; chunking keeps each
  message far below GCM's limits. Fernet is AES-128-CBC + HMAC without a KDF or streaming;
  ZIP encryption is broken (ZipCrypto) or outside the standard library (WinZip AES); GnuPG and age
  are external programs, not installed on county machines nor pinned in ``requirements.lock``.
- The database is encrypted too, not only the keys: backups travel on removable media, and the
  database holds names, records and decisions in clear (only IDs and phones are field-encrypted).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import tarfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from ctown.errors import Conflict
from ctown.i18n import Message, _

FORMAT = "ctown-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEYS_PART = "keys.enc"
#: The database part of each kind of database.
DATABASE_PARTS = {"sqlite": "database.sqlite3.enc", "postgresql": "database.pgdump.enc"}
CHUNK = 1 << 20
TAG = 16
PREFIX = 7
#: scrypt cost: 2^17 × r=8 is 128 MiB per derivation; 1.3–1.6 s measured here (2 cores, load 8),
#: paid once per backup or restore, and by a guesser once per guess.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 17, 8, 1
#: Bounds on the parameters read from an archive, so an altered header cannot ask for 64 GiB.
_MAX_MEMORY = 1 << 30
_MAX_MANIFEST = 1 << 20


class BackupRefused(Conflict):
    """A backup or restore refused for a stated reason; nothing was changed."""


def _altered(detail: str) -> BackupRefused:
    return BackupRefused(Message(_("备份文件已被改动或损坏（{detail}），拒绝恢复。未做任何更改"),
                                 {"detail": detail}))


def _not_an_archive(detail: str) -> BackupRefused:
    return BackupRefused(Message(_("不是 ctown 备份文件（{detail}）。未做任何更改"), {"detail": detail}))


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- keys ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kdf:
    """scrypt parameters as stored in the manifest."""

    salt: bytes
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @classmethod
    def new(cls, n: int = SCRYPT_N) -> Kdf:
        return cls(secrets.token_bytes(16), n)

    def as_json(self) -> dict[str, Any]:
        return {"name": "scrypt", "n": self.n, "r": self.r, "p": self.p,
                "salt": base64.b64encode(self.salt).decode()}

    @classmethod
    def from_json(cls, obj: Any) -> Kdf:
        try:
            n, r, p = int(obj["n"]), int(obj["r"]), int(obj["p"])
            salt = base64.b64decode(obj["salt"], validate=True)
            named = obj["name"] == "scrypt"
        except (KeyError, TypeError, ValueError) as exc:
            raise _not_an_archive(f"kdf: {exc}") from None
        if not named or n < 2 or n & (n - 1) or not 1 <= r <= 32 or not 1 <= p <= 16 \
                or 128 * n * r * p > _MAX_MEMORY or not 16 <= len(salt) <= 64:
            raise _not_an_archive("kdf parameters out of bounds")
        return cls(salt, n, r, p)


class Keys:
    """The keys of one archive, derived from the passphrase (one scrypt, then HKDF)."""

    def __init__(self, passphrase: str, kdf: Kdf) -> None:
        self.kdf = kdf
        self._master = Scrypt(salt=kdf.salt, length=32, n=kdf.n, r=kdf.r, p=kdf.p).derive(
            passphrase.encode())

    def derive(self, purpose: str) -> bytes:
        return HKDF(hashes.SHA256(), 32, salt=None,
                    info=f"{FORMAT} {FORMAT_VERSION} {purpose}".encode()).derive(self._master)

    @property
    def check(self) -> str:
        """Tells a wrong passphrase from an altered archive (costs a guesser one scrypt, as the
        parts themselves would)."""
        return self.derive("passphrase check").hex()

    def mac(self, manifest: Mapping[str, Any]) -> str:
        body = {k: v for k, v in manifest.items() if k != "mac"}
        return hmac.new(self.derive("manifest"), canonical(body), hashlib.sha256).hexdigest()


# -- chunked AES-256-GCM -------------------------------------------------------------------------
def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def sealed_size(plain: int) -> int:
    chunks = max(1, -(-plain // CHUNK))
    return PREFIX + plain + TAG * chunks


class EncryptingReader:
    """Reads a plaintext file as its encrypted form (so tar can stream it: the size is known in
    advance) and hashes what it hands out."""

    def __init__(self, key: bytes, name: str, plain: IO[bytes]) -> None:
        self._aead, self._aad, self._plain = AESGCM(key), name.encode(), plain
        self._prefix = secrets.token_bytes(PREFIX)
        self._buffer, self._pos, self._counter = self._prefix, 0, 0
        self._next = plain.read(CHUNK)
        self._done = False
        self.sha256 = hashlib.sha256()

    def _fill(self) -> None:
        chunk, self._next = self._next, self._plain.read(CHUNK)
        last = not self._next
        self._buffer = self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk,
                                          self._aad)
        self._pos, self._counter, self._done = 0, self._counter + 1, last

    def read(self, size: int = -1) -> bytes:
        # tar asks for 16 KiB at a time: slice the chunk by position, never re-copy its rest.
        out = bytearray()
        while size < 0 or len(out) < size:
            if self._pos == len(self._buffer):
                if self._done:
                    break
                self._fill()
            end = len(self._buffer) if size < 0 else min(len(self._buffer),
                                                          self._pos + size - len(out))
            out += self._buffer[self._pos:end]
            self._pos = end
        data = bytes(out)
        self.sha256.update(data)
        return data


def decrypt_stream(key: bytes, name: str, src: IO[bytes], dst: IO[bytes]) -> int:
    """Decrypt a part into ``dst``; returns the plaintext size. Any change is an error."""
    aead, aad = AESGCM(key), name.encode()
    prefix = src.read(PREFIX)
    block, counter, size = src.read(CHUNK + TAG), 0, 0
    if len(prefix) != PREFIX:
        raise _altered(name)
    while True:
        following = src.read(CHUNK + TAG)
        last = not following
        try:
            plain = aead.decrypt(_nonce(prefix, counter, last), block, aad)
        except InvalidTag:
            raise _altered(name) from None
        dst.write(plain)
        size += len(plain)
        if last:
            return size
        block, counter = following, counter + 1


def seal_bytes(key: bytes, name: str, data: bytes) -> bytes:
    return EncryptingReader(key, name, BytesIO(data)).read()


def open_bytes(key: bytes, name: str, data: bytes) -> bytes:
    out = BytesIO()
    decrypt_stream(key, name, BytesIO(data), out)
    return out.getvalue()


# -- the tar file --------------------------------------------------------------------------------
def _member(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o600
    info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
    return info


def write_archive(dest: Path, keys: Keys, database: tuple[str, Path], key_files: bytes,
                  manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``dest`` (never overwriting): the encrypted database file, the encrypted key files
    and the manifest completed with the parts' sha256 and its MAC. Written beside ``dest`` and
    renamed at the end, so an interrupted backup never leaves a file that looks complete."""
    part, plain_path = database
    tmp = dest.with_name(f".{dest.name}.partial")
    parts: dict[str, Any] = {}
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w",
                                                     format=tarfile.PAX_FORMAT) as tar:
            plain_size = plain_path.stat().st_size
            with plain_path.open("rb") as plain:
                reader = EncryptingReader(keys.derive(f"part {part}"), part, plain)
                tar.addfile(_member(part, sealed_size(plain_size)), reader)
            parts[part] = {"sha256": reader.sha256.hexdigest(), "bytes": sealed_size(plain_size),
                           "plain_bytes": plain_size}
            sealed = seal_bytes(keys.derive(f"part {KEYS_PART}"), KEYS_PART, key_files)
            tar.addfile(_member(KEYS_PART, len(sealed)), BytesIO(sealed))
            parts[KEYS_PART] = {"sha256": hashlib.sha256(sealed).hexdigest(),
                                "bytes": len(sealed), "plain_bytes": len(key_files)}
            manifest = {**manifest, "format": FORMAT, "format_version": FORMAT_VERSION,
                        "parts": parts, "encryption": {
                            "cipher": "AES-256-GCM", "chunk_bytes": CHUNK,
                            "kdf": keys.kdf.as_json(), "check": keys.check}}
            manifest["mac"] = keys.mac(manifest)
            text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True).encode()
            tar.addfile(_member(MANIFEST, len(text)), BytesIO(text))
            tar.close()
            fh.flush()
            os.fsync(fh.fileno())
        if dest.exists():
            raise BackupRefused(Message(_("{path} 已存在，不会覆盖"), {"path": str(dest)}))
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


class Archive:
    """An archive opened for restore: its manifest, and the parts once :meth:`unlock` has checked
    the passphrase, the manifest's MAC and every part's sha256."""

    def __init__(self, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo],
                 manifest: dict[str, Any]) -> None:
        self._tar, self._members, self.manifest = tar, members, manifest

    def _stream(self, name: str) -> IO[bytes]:
        member = self._members.get(name)
        stream = self._tar.extractfile(member) if member is not None else None
        if stream is None:
            raise _altered(f"{name} missing")
        return stream

    def unlock(self, passphrase: str) -> Keys:
        enc = self.manifest.get("encryption")
        if not isinstance(enc, dict):
            raise _not_an_archive("no encryption header")
        keys = Keys(passphrase, Kdf.from_json(enc.get("kdf")))
        if not hmac.compare_digest(keys.check, str(enc.get("check"))):
            raise BackupRefused(Message(_("备份口令不对，打不开该备份。未做任何更改")))
        if not hmac.compare_digest(keys.mac(self.manifest), str(self.manifest.get("mac"))):
            raise _altered(MANIFEST)
        parts = self.manifest.get("parts")
        if not isinstance(parts, dict) or set(parts) | {MANIFEST} != set(self._members):
            raise _altered("parts")
        for name, expected in parts.items():
            digest, size = hashlib.sha256(), 0
            stream = self._stream(name)
            while block := stream.read(CHUNK):
                digest.update(block)
                size += len(block)
            if digest.hexdigest() != expected.get("sha256") or size != expected.get("bytes"):
                raise _altered(f"sha256 {name}")
        return keys

    def decrypt(self, keys: Keys, name: str, dst: IO[bytes]) -> None:
        size = decrypt_stream(keys.derive(f"part {name}"), name, self._stream(name), dst)
        if size != self.manifest["parts"][name].get("plain_bytes"):
            raise _altered(name)

    def read(self, keys: Keys, name: str) -> bytes:
        out = BytesIO()
        self.decrypt(keys, name, out)
        return out.getvalue()


@contextmanager
def open_archive(src: Path) -> Iterator[Archive]:
    """Open ``src`` and read its manifest (nothing is extracted: members are read by name, so a
    crafted path inside the tar can never be written anywhere)."""
    try:
        tar = tarfile.open(src, "r:")  # noqa: SIM115 - closed by the with below, once it opened
    except (OSError, tarfile.TarError) as exc:
        raise _not_an_archive(f"{type(exc).__name__}: {exc}") from None
    with tar:
        members: dict[str, tarfile.TarInfo] = {}
        allowed = {MANIFEST, KEYS_PART, *DATABASE_PARTS.values()}
        for member in tar.getmembers():
            if not member.isreg() or member.name not in allowed or member.name in members:
                raise _not_an_archive(f"member {member.name!r}")
            members[member.name] = member
        info = members.get(MANIFEST)
        stream = tar.extractfile(info) if info is not None and info.size <= _MAX_MANIFEST else None
        if stream is None:
            raise _not_an_archive("no manifest")
        try:
            manifest = json.loads(stream.read())
        except ValueError:
            raise _not_an_archive("manifest is not JSON") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise _not_an_archive("format")
        version = manifest.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise BackupRefused(Message(_(
                "该备份由更新版本的 ctown 制作（格式版本 {version}），本程序只认识到 {known}。"
                "请先升级 ctown。未做任何更改"), {"version": version, "known": FORMAT_VERSION}))
        yield Archive(tar, members, manifest)
