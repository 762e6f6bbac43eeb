"""Settings from `CTOWN_` environment variables (Pydantic settings), built by a factory, never at import."""

from __future__ import annotations

import secrets
import sys
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ctown import keyfiles


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CTOWN_", extra="ignore")

    #: SQLAlchemy URL; a plain ``postgresql://`` URL is accepted and given the psycopg 3 driver.
    database_url: str = ""
    #: Folder for the SQLite file, the secret and key files (created owner-only on first run).
    #: Not relative to the current directory: a command run from elsewhere must find the same
    #: key ring (see :func:`default_var_dir`).
    var_dir: Path = Field(default_factory=lambda: default_var_dir())
    port: int = 8000
    host: str = "127.0.0.1"
    #: ``intl`` = AES-256-GCM + HMAC-SHA-256 + Ed25519; ``sm`` = SM4-GCM + HMAC-SM3 (GB/T 39786-2021).
    cipher_suite: Literal["intl", "sm"] = "intl"
    default_locale: str = "zh_Hans"
    #: Failed logins allowed per username within ``login_window_seconds`` before a lock-out.
    login_max_failures: int = 5
    login_window_seconds: int = 900
    #: Web sessions (会话) end after this long without a request, and this long after login.
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=8, ge=1)
    #: API tokens expire this many days after they are issued.
    token_days: int = Field(default=90, ge=1, le=3650)
    #: Shortest password a person may choose (at most 128 characters; ``accounts.passwords``).
    password_min_length: int = Field(default=10, ge=8, le=128)
    #: Reverse proxies whose ``X-Forwarded-For`` names the client (comma-separated addresses or
    #: networks, e.g. ``10.0.0.5,10.1.0.0/16``); empty: the header is ignored.
    trusted_proxies: str = ""
    #: ``json``: the server writes one JSON object per log line (no personal data in either).
    log_format: Literal["text", "json"] = "text"
    #: Largest request body accepted (MB): a pushed batch of 50,000 rows is about 15 MB.
    max_body_mb: int = Field(default=32, ge=1, le=1024)
    #: Cookies marked Secure; off for the plain-HTTP demo on 127.0.0.1.
    secure_cookies: bool = False
    #: Outbound notices, per channel (chosen when the app or the CLI starts, ``ctown.notify``):
    #: ``console`` writes the text to the log (never a phone number), ``null`` drops it,
    #: ``memory`` keeps it in the process (tests).
    sms_backend: Literal["console", "null", "memory", "http"] = "console"
    voice_backend: Literal["console", "null", "memory"] = "console"
    #: Department webhooks (部门推送回执), later.
    webhook_backend: Literal["console", "null", "memory"] = "console"
    # -- farmers' channels (#13) --
    #: Shared secrets of the SMS gateway's and the telephony platform's webhooks: each request is
    #: signed ``X-Ctown-Signature: hex(HMAC-SHA256(secret, raw body))``; empty: the webhook refuses.
    sms_secret: str = ""
    voice_secret: str = ""
    #: The HTTP SMS provider (``sms_backend="http"``, ``ctown.notify.channels``): where it sends
    #: and the token it sends with; never reached in tests.
    sms_http_url: str = ""
    sms_http_token: str = ""
    #: SMS commands answered per number (``ctown.channels.service``): at most this many in ten
    #: minutes and in a day; past that the webhook answers but sends nothing.
    sms_replies_per_10_minutes: int = Field(default=5, ge=1)
    sms_replies_per_day: int = Field(default=20, ge=1)
    #: The county credit centre's SMS number, printed on the notice board for objections
    #: ("反馈 + 内容" to it); empty: the board names the centre without a number.
    sms_number: str = Field(default="", max_length=20)
    # -- end of farmers' channels --
    demo_households: int = Field(default=20_000, ge=10)
    #: The ledger keeps up by itself (``ctown.ledger.keeping``): a running server signs a
    #: checkpoint this often while it writes; ``ctown ledger verify`` calls records pending
    #: longer than ``ledger_pending_max_minutes`` a problem (written outside the platform).
    ledger_checkpoint_minutes: int = Field(default=5, ge=1, le=1440)
    ledger_pending_max_minutes: int = Field(default=15, ge=1)
    #: The county's configuration folder (配置目录, ``ctown.configdir``): its files override the
    #: packaged catalogue, department mappings, products, scorecards and grades. None: the packaged
    #: files are live and nothing can be approved (``docs/configuration.md``).
    config_dir: Path | None = None

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.var_dir / 'ctown.sqlite3').as_posix()}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

    @cached_property
    def secret_key(self) -> bytes:
        """Signs cookies and CSRF tokens; created once, owner-only."""
        return read_or_create_secret(self.var_dir / "secret.key", 32)

    @property
    def keyring_path(self) -> Path:
        return self.var_dir / "keys.json"


def default_var_dir() -> Path:
    """``var/`` beside the virtual environment ctown runs from (``make install`` puts it in the
    checkout: ``<checkout>/var``), else ``~/.local/share/ctown``."""
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix).resolve().parent / "var"
    return Path.home() / ".local" / "share" / "ctown"


def read_or_create_secret(path: Path, size: int) -> bytes:
    """Read a random secret, or create it with mode 0600 (never readable by other users), whole
    or not at all; two processes creating it at once both get the first one's
    (:mod:`ctown.keyfiles`)."""
    text = keyfiles.read_or_create(path, lambda: secrets.token_bytes(size).hex().encode())
    return bytes.fromhex(text.decode().strip())


def get_settings(**overrides: Any) -> Settings:
    return Settings(**overrides)  # each value is validated by its field
