"""The county's X25519 key that terminals seal their batches to (in ``var/``, mode 0600)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from ctown import keyfiles
from ctown.collection import protocol
from ctown.settings import Settings, read_or_create_secret

KEY_FILE = "collection_x25519.key"


def county_private_key(settings: Settings) -> X25519PrivateKey:
    """Created on first use; only this file can open the batches of every terminal."""
    return protocol.x25519_from_secret(read_or_create_secret(settings.var_dir / KEY_FILE, 32))


def county_public_text(settings: Settings) -> str:
    return protocol.b64e(protocol.raw_public(county_private_key(settings).public_key()))


def write_terminal_key(path: Path) -> tuple[str, str]:
    """A new terminal key file (owner-only) and its ``.pub`` beside it; returns (id, public key)."""
    key = protocol.new_terminal_key()
    public = protocol.raw_public(key.public_key())
    if not keyfiles.create(path, (protocol.b64e(key.private_bytes_raw()) + "\n").encode()):
        raise FileExistsError(f"{path} exists: a terminal key is never overwritten")
    public_text = protocol.b64e(public)
    path.with_name(path.name + ".pub").write_text(public_text + "\n")
    return protocol.terminal_id_for(public), public_text


def read_terminal_key(path: Path) -> Ed25519PrivateKey:
    raw = protocol.b64d(path.read_text().strip())
    return Ed25519PrivateKey.from_private_bytes(raw)


def read_public_text(value: str) -> str:
    """A public key given as text, or as the path of a file holding it."""
    candidate = Path(value)
    if len(value) < 200 and candidate.is_file():
        return candidate.read_text().strip()
    return value.strip()
