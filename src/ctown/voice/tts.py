"""Offline text-to-speech (离线语音合成): espeak-ng from the Debian package, and its audio cache.

Chinese text is spoken by the ``cmn-latn-pinyin`` voice from tone-numbered pinyin
(:mod:`ctown.voice.spoken`); text without Chinese (the English pages) by the ``en`` voice.
espeak-ng runs as a subprocess: no shell, text on stdin (a leading "-" is no option), a timeout.

The cache is content-addressed: a file's name is a keyed hash of (voice, engine version,
conversion version, text), so the same text is synthesised once, a new espeak-ng or a changed
reading gives a new file, and nobody can guess the name of someone else's message from its
words (the key is the server's secret). Writes are atomic (a temporary file renamed into place);
a lock file per name (bucket) makes two requests for the same text — threads or worker processes —
synthesise once. The folder is bounded: past ``max_bytes`` the least recently heard files go.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ctown.voice import spoken

log = logging.getLogger(__name__)

PINYIN_VOICE, ENGLISH_VOICE = "cmn-latn-pinyin", "en"
#: Words a minute: a little slower than espeak-ng's 175, for an old handset's earpiece; the
#: pinyin voice then says ~3.8 syllables a second (an 80-syllable reply: ~21 s).
SPEED = 160
TIMEOUT_SECONDS = 20
MAX_CACHE_BYTES = 256 << 20  # ~3,000 replies of 4 s (22 kHz, 16-bit mono: ~44 KB a second)
#: A file name the cache writes: 32 hex digits and ``.wav``. The audio route serves nothing else.
NAME = re.compile(r"[0-9a-f]{32}\.wav")


class SpeechUnavailable(RuntimeError):
    """espeak-ng is missing or failed (install it: ``make browser`` or ``apt-get install
    espeak-ng``)."""


@lru_cache(maxsize=4)
def engine_version(binary: str) -> str:
    """``espeak-ng --version``'s first line: part of every cache key."""
    try:
        done = subprocess.run([binary, "--version"], capture_output=True,  # noqa: S603 - no shell
                              text=True, timeout=TIMEOUT_SECONDS, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise SpeechUnavailable(f"espeak-ng not usable at {binary}: {exc}") from exc
    out = str(done.stdout).strip()
    return out.splitlines()[0] if out else "unknown"


def find_espeak() -> str | None:
    return shutil.which("espeak-ng")


def clean(text: str) -> str:
    """The text as it is named and spoken: no lone surrogates (JSON may carry them; they do not
    encode) and no control characters."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(ch if ch.isprintable() else " " for ch in text).strip()


def voice_for(text: str) -> str:
    return PINYIN_VOICE if spoken.has_chinese(text) else ENGLISH_VOICE


def prepare(text: str) -> tuple[str, str]:
    """(voice, what espeak-ng is given) for a text."""
    voice = voice_for(text)
    # The English voice reads figures itself.
    return voice, spoken.pinyin(text) if voice == PINYIN_VOICE else text


@dataclass(frozen=True)
class Audio:
    name: str
    path: Path
    cached: bool  # True: served from the cache, espeak-ng did not run


class AudioCache:
    """Synthesised WAV files under ``root`` (``var/voice``), one per text."""

    def __init__(self, root: Path, key: bytes, binary: str | None = None,
                 max_bytes: int = MAX_CACHE_BYTES) -> None:
        self.root, self.key, self.max_bytes = root, key, max_bytes
        self.binary = binary or find_espeak()
        self.synthesised = 0  # espeak-ng runs by this process (the benchmark and tests read it)

    def name_for(self, text: str) -> str:
        text = clean(text)
        return self._name(voice_for(text), text)

    def _name(self, voice: str, text: str) -> str:
        label = "\x00".join((voice, str(SPEED), self._engine(), spoken.VERSION, text))
        return hmac.new(self.key, label.encode(), hashlib.sha256).hexdigest()[:32] + ".wav"

    def _engine(self) -> str:
        if not self.binary:
            raise SpeechUnavailable("espeak-ng is not installed: run `make browser` "
                                    "(or apt-get install espeak-ng)")
        return engine_version(self.binary)

    def path_of(self, name: str) -> Path | None:
        """The file of a name the cache wrote, or None (anything else: not a name of ours)."""
        if not NAME.fullmatch(name):
            return None
        path = self.root / name
        return path if path.is_file() else None

    def audio(self, text: str) -> Audio:
        """The WAV of ``text``: from the cache, or synthesised once and kept."""
        name = self.name_for(text)  # a hit costs a hash: the pinyin is made only on a miss
        path = self.root / name
        if self._touch(path):
            return Audio(name, path, cached=True)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with self._locked(name):
            if self._touch(path):  # another request made it while this one waited
                return Audio(name, path, cached=True)
            self._synthesise(*prepare(clean(text)), path)
        self._evict(keep=path)
        return Audio(name, path, cached=False)

    def _synthesise(self, voice: str, said: str, path: Path) -> None:
        assert self.binary is not None  # _name checked it
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".wav")
        os.close(fd)
        try:
            subprocess.run([self.binary, "-v", voice, "-s", str(SPEED), "-w", tmp,  # noqa: S603
                            "--stdin"],  # no shell; the text goes on stdin, never as an argument
                           input=said.encode(), capture_output=True, timeout=TIMEOUT_SECONDS,
                           check=True)
            if os.path.getsize(tmp) <= 44:  # a header and no sound
                raise SpeechUnavailable("espeak-ng wrote no audio")
            os.replace(tmp, path)
            self.synthesised += 1
        except (OSError, subprocess.SubprocessError) as exc:
            raise SpeechUnavailable(f"espeak-ng failed: {exc.__class__.__name__}") from exc
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def _touch(path: Path) -> bool:
        """Whether the file exists; if so its access time becomes now (what eviction orders
        by), its modification time stays (when it was synthesised)."""
        try:
            stat = path.stat()
            os.utime(path, ns=(time.time_ns(), stat.st_mtime_ns))
        except FileNotFoundError:
            return False
        return True

    @contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        # flock on a file opened per request: exclusive between threads and processes alike.
        # One of 256 lock files by the name's first byte (never deleted, so never two inodes
        # for one lock); two different texts sharing one wait for each other, rarely and briefly.
        with open(self.root / f".lock-{name[:2]}", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _evict(self, keep: Path) -> None:
        files = []
        for path in self.root.glob("*.wav"):
            try:
                stat = path.stat()
            except FileNotFoundError:  # evicted by another process meanwhile
                continue
            files.append((stat.st_atime, stat.st_size, path))
        total = sum(size for _at, size, _p in files)
        for _at, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            if path != keep:
                path.unlink(missing_ok=True)
                total -= size

    def size(self) -> tuple[int, int]:
        """(files, bytes) in the cache."""
        sizes = [p.stat().st_size for p in self.root.glob("*.wav")] if self.root.exists() else []
        return len(sizes), sum(sizes)


def cache_for(var_dir: Path, secret: bytes) -> AudioCache:
    """The county's cache, ``var/voice``, its names keyed with a key derived from the server's
    secret (``Settings.secret_key``), never the secret itself — the web app and the demo alike."""
    key = hmac.new(secret, b"ctown voice audio names", hashlib.sha256).digest()
    return AudioCache(var_dir / "voice", key)
