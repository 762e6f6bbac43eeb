"""Key files of ``var/`` written all or nothing (密钥文件): the key ring, the ledger's signing key,
the cookie secret, the county's collection key.

A key file made by opening the final name and writing into it leaves, when the process is
killed in between, an empty file that every later command fails on (and a key nobody has).
Here the content goes to a temporary file in the same folder (mode 0600, fsynced) and only then
gets its name: :func:`create` links it, which fails if the name exists, so two processes
creating the same key at once end with one file, the first one's, which both then read; a
rewrite (:func:`replace`, key rotation) renames over the old file. Either way a reader sees the
old file or the new one, whole. A process killed before the link leaves a ``.<name>.*.tmp``
file behind, owner-only, which no command reads.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def read_or_create(path: Path, make: Callable[[], bytes]) -> bytes:
    """The content of ``path``; first ``make()`` it, if the file does not exist yet. Another
    process creating it meanwhile wins, and its content is returned (the same for both)."""
    if not path.exists():
        create(path, make())
    return path.read_bytes()


def create(path: Path, content: bytes) -> bool:
    """Create ``path`` holding ``content``, owner-only, whole or not at all; False (and nothing
    written) when the file exists already."""
    tmp = _written(path, content)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    _sync_folder(path.parent)
    return True


def replace(path: Path, content: bytes) -> None:
    """Write ``path`` anew, owner-only: readers see the old content or the new, whole."""
    os.replace(_written(path, content), path)
    _sync_folder(path.parent)


def _written(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:  # mkstemp: O_EXCL, mode 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(name)
        raise
    return Path(name)


def _sync_folder(folder: Path) -> None:
    """The new name itself survives a power cut only once its folder is on disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
