"""Channels and their backends: one interface for in-app, SMS, voice and department webhooks.

A :class:`Backend` delivers one :class:`Outgoing` notice or raises; the sender marks it sent or
schedules a retry. Which backend serves a channel is chosen from the settings when the app or the
CLI starts (:func:`ctown.notify.setup.notifier_from_settings`), in the manner of warehouse's
``Null*`` / ``Console*`` services — never a module-level global. Tests use :class:`MemoryBackend`
(``sms_backend="memory"``) or hand a backend of their own to the notifier.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from sqlalchemy.orm import Session

from ctown.crypto import FieldCipher
from ctown.i18n import translate

log = logging.getLogger("ctown.notify")

IN_APP, SMS, VOICE, WEBHOOK = "in_app", "sms", "voice", "webhook"
CHANNELS = (IN_APP, SMS, VOICE, WEBHOOK)
#: ``ref_kind`` of notices carrying a credential (``ctown.channels.otp``).
SECRET_KINDS = frozenset({"sign_in_code"})


@dataclass(frozen=True)
class Outgoing:
    """What a backend gets: the outbox row as plain values (no session, no ORM object).

    ``id`` is the outbox id: a provider that takes a client message id (most SMS gateways do)
    gets it, so that a resend after a crash between its answer and our commit is dropped there.
    """

    id: int
    channel: str
    user_id: int | None
    subject_id: int | None
    source: str
    ref_kind: str | None
    ref_id: int | None
    msgid: str
    params: Mapping[str, Any]
    attempts: int = 1
    #: Where it goes, still encrypted: the field cipher's token and its associated data (the
    #: outbox row's own address, or the subject's phone on file; :mod:`ctown.notify.address`).
    address_token: str | None = None
    address_aad: str | None = None

    def text(self, locale: str | None = None) -> str:
        return translate(self.msgid, locale, **self.params)

    def address(self, cipher: FieldCipher) -> str | None:
        """The number, decrypted — by the backend that sends, at the moment it sends."""
        if self.address_token is None or self.address_aad is None:
            return None
        return cipher.decrypt(self.address_token, self.address_aad)

    @property
    def secret(self) -> bool:
        """A notice whose text is a credential (a sign-in code): never written to a log."""
        return self.ref_kind in SECRET_KINDS

    @property
    def recipient(self) -> str:
        """For logs: the user or subject id, never a phone number or a name."""
        return f"user {self.user_id}" if self.user_id else f"subject {self.subject_id}"


class Backend(Protocol):
    def send(self, notice: Outgoing) -> None:
        """Deliver the notice, or raise (the sender retries later)."""


class ConsoleBackend:
    """Writes the text to the log (the phone number is never logged, only the subject id)."""

    name = "console"

    def send(self, notice: Outgoing) -> None:
        if notice.secret:  # the demo reads the code from ``ctown notify outbox --json`` instead
            log.info("[%s → %s] one-time code sent (outbox %d)", notice.channel,
                     notice.recipient, notice.id)
            return
        log.info("[%s → %s] %s", notice.channel, notice.recipient, notice.text())


class NullBackend:
    """Drops the notice (a county without an SMS contract, benchmarks)."""

    name = "null"

    def send(self, notice: Outgoing) -> None:
        return None


class InboxBackend:
    """In-app: the outbox row is the message; once marked sent it shows in the user's inbox."""

    name = "inbox"

    def send(self, notice: Outgoing) -> None:
        return None


@dataclass
class MemoryBackend:
    """Keeps what was sent as ``(outbox id, channel, text)`` (tests, the demo's inbox check)."""

    name = "memory"
    sent: list[tuple[int, str, str]] = field(default_factory=list)

    def send(self, notice: Outgoing) -> None:
        self.sent.append((notice.id, notice.channel, notice.text()))


class NoAddress(LookupError):
    """An SMS with no number to go to (no phone on file): retried, then given up."""


class HttpSmsBackend:
    """The county's SMS gateway over HTTP (``sms_backend="http"``, ``CTOWN_SMS_HTTP_URL``).

    One ``POST`` per message: JSON ``{"id", "to", "text"}`` with ``Authorization: Bearer
    <CTOWN_SMS_HTTP_TOKEN>``; ``id`` is the outbox id, the client message id by which the gateway
    drops a resend after a crash between its answer and our commit. Any answer but 2xx raises (the
    sender retries with backoff). The number is decrypted here, for the request, and nowhere else;
    errors name the outbox id, never the number.
    """

    name = "http"

    def __init__(self, url: str, token: str, cipher: FieldCipher | Callable[[], FieldCipher],
                 client: httpx.Client | None = None, timeout: float = 10.0) -> None:
        if not url:
            raise ValueError("sms_backend=http needs CTOWN_SMS_HTTP_URL")
        self.url, self.token = url, token
        self._cipher = cipher
        self._client = client or httpx.Client(timeout=timeout)

    @property
    def cipher(self) -> FieldCipher:
        if callable(self._cipher):  # the key ring is opened at the first send, not at start
            self._cipher = self._cipher()
        return self._cipher

    def send(self, notice: Outgoing) -> None:
        to = notice.address(self.cipher)
        if to is None:
            raise NoAddress(f"outbox {notice.id}: no phone on file")
        response = self._client.post(
            self.url, json={"id": str(notice.id), "to": to, "text": notice.text()},
            headers={"Authorization": f"Bearer {self.token}"} if self.token else {})
        if response.status_code // 100 != 2:
            raise SmsRefused(f"outbox {notice.id}: gateway answered {response.status_code}")


class SmsRefused(RuntimeError):
    """The gateway did not take the message (a non-2xx answer)."""


BACKENDS: dict[str, Callable[[], Backend]] = {
    "console": ConsoleBackend, "null": NullBackend, "memory": MemoryBackend,
    "inbox": InboxBackend}


@dataclass(frozen=True)
class RetryPolicy:
    """After a failed attempt n the next waits ``first × 2^(n-1)``, at most ``cap``; after
    ``max_attempts`` failures the notice is given up (``failed_at``) and counted by status."""

    first: dt.timedelta = dt.timedelta(seconds=30)
    cap: dt.timedelta = dt.timedelta(hours=1)
    max_attempts: int = 8

    def delay(self, attempts: int) -> dt.timedelta:
        factor: int = 2 ** max(attempts - 1, 0)
        return min(self.first * factor, self.cap)


#: ``on_delivered(session, notices)``: told, in the delivery's transaction, what was delivered.
DeliveredHook = Callable[[Session, Sequence[Outgoing]], None]


@dataclass
class Notifier:
    """The backends of the channels and the retry policy of one app or CLI run.

    ``hooks`` maps a source (a capability) to its delivery hook; a source without an entry is
    looked up once as ``ctown.<source>.notices.on_delivered`` (see :mod:`ctown.notify.tasks`).
    """

    backends: Mapping[str, Backend]
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    hooks: dict[str, DeliveredHook | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def backend(self, channel: str) -> Backend | None:
        return self.backends.get(channel)

    def names(self) -> dict[str, str]:
        """Channel → backend name, for ``ctown notify send`` and the logs."""
        return {c: getattr(b, "name", type(b).__name__) for c, b in sorted(self.backends.items())}
