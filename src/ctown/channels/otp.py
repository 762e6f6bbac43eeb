"""Sign-in by a one-time code (短信验证码登录): resident ID, then a code sent to the phone on file.

Two steps. :func:`request` takes a resident ID and answers with a *ticket* (names the request
in the second step's form) — the same answer, after the same time, whether or not the ID is on
file, has a farmer's account and a phone: a row is written for every request, a code made and
hashed for every request, and the answer is held back to at least :data:`FLOOR` seconds. Only
when there is someone to send it to does the code go into the outbox (to the person's own phone
on file); the page pads its answer after the commit. :func:`verify` takes the ticket and the
code: a code is good for :data:`TTL` (5 minutes), for :data:`MAX_FAILURES` wrong tries, and once.

Rate limits (rows of ``channels_sign_in_codes`` counted, so every worker sees the same): at most
:data:`PER_ID` codes per resident ID and :data:`PER_CLIENT` requests per client address per
:data:`WINDOW`. An ID that is not on file is limited the same way, so the limit tells nothing.
Codes, tickets, IDs and client addresses are kept only as keyed hashes (the county's index key:
a copy of the database alone cannot try the million codes).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.channels.models import SignInCode
from ctown.crypto import FieldCipher
from ctown.db import utcnow
from ctown.i18n import Message, _
from ctown.notify import service as notify
from ctown.notify.channels import SMS
from ctown.notify.models import Notification
from ctown.registry.identifiers import normalise
from ctown.registry.models import Subject

SOURCE = "channels"
KIND = "sign_in_code"  # ctown.notify.channels.SECRET_KINDS: never logged
TTL = dt.timedelta(minutes=5)
WINDOW = dt.timedelta(minutes=15)
PER_ID = 3
PER_CLIENT = 10
MAX_FAILURES = 5
DIGITS = 6
FLOOR = 0.4  # seconds: the least time an answer of request() takes, found or not
BLANK = "······"
MESSAGE = _("信用乡登录验证码 {code}，5分钟内有效。请勿告诉他人，工作人员不会向您索要。")


@dataclass(frozen=True)
class Requested:
    """The answer to a request: a ticket for the second step, or how long to wait."""

    ticket: str | None
    expires_at: dt.datetime | None = None
    wait: Message | None = None


@dataclass(frozen=True)
class Verified:
    user: User | None
    message: Message | None = None


SENT = _("如果该身份证号已登记手机号，验证码已发到登记的手机，5分钟内有效。")
TOO_MANY = _("请求太频繁，请15分钟后再试")
WRONG = _("验证码不正确或已过期，请重新获取")


def _hash(cipher: FieldCipher, purpose: str, value: str) -> str:
    return cipher.blind_index(value, f"sign_in_{purpose}")


def request(session: Session, cipher: FieldCipher, resident_id: str, client: str | None, *,
            now: dt.datetime | None = None, floor: float = 0.0,
            sleep: Callable[[float], None] = time.sleep) -> Requested:
    """Send a sign-in code to the phone on file of ``resident_id``'s farmer, if there is one.

    ``floor``: the least time the call takes. The page (``channels.views``) pads its answer to
    :data:`FLOOR` itself, after the transaction ended: a pause inside it would hold SQLite's one
    write lock."""
    started = time.monotonic()
    try:
        return _request(session, cipher, resident_id, client, now or utcnow())
    finally:
        left = floor - (time.monotonic() - started)
        if left > 0:
            sleep(left)


def _request(session: Session, cipher: FieldCipher, resident_id: str, client: str | None,
             now: dt.datetime) -> Requested:
    typed = normalise(resident_id or "")[:40]
    id_index = cipher.blind_index(typed)  # the registry's own index of resident IDs
    client_index = _hash(cipher, "client", client or "-")
    since = now - WINDOW
    by_id, by_client = session.execute(sa.select(
        sa.func.count(sa.case((SignInCode.id_index == id_index, 1))),
        sa.func.count(sa.case((SignInCode.client_index == client_index, 1))))
        .where(SignInCode.created_at > since,
               sa.or_(SignInCode.id_index == id_index,
                      SignInCode.client_index == client_index))).one()
    if by_id >= PER_ID or by_client >= PER_CLIENT:
        return Requested(None, wait=Message(TOO_MANY))
    _retire(session, id_index, now)
    person, user = _holder(session, id_index)
    ticket = secrets.token_urlsafe(24)
    code = f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"
    row = SignInCode(ticket_hash=_hash(cipher, "ticket", ticket), id_index=id_index,
                     client_index=client_index, created_at=now, expires_at=now + TTL,
                     failures=0, user_id=user.id if user else None,
                     code_hash=_hash(cipher, "code", f"{ticket}:{code}"))
    session.add(row)
    session.flush()
    if person is not None and user is not None:
        row.outbox_id = notify.queue(session, channel=SMS, msgid=MESSAGE, source=SOURCE,
                                     subject_id=person.id, ref_kind=KIND, ref_id=row.id,
                                     params={"code": code})
    else:
        row.code_hash = None  # nobody to send it to: no code can match
    return Requested(ticket, row.expires_at)


def _holder(session: Session, id_index: str) -> tuple[Subject | None, User | None]:
    """The person with this ID and a phone on file, and the active farmer's account of their
    household (or of the person)."""
    person = session.scalar(sa.select(Subject).where(Subject.id_index == id_index,
                                                     Subject.phone_cipher.is_not(None)))
    if person is None:
        return None, None
    user = session.scalar(sa.select(User).where(
        User.role == Role.farmer, User.is_active.is_(True),
        User.subject_id.in_([i for i in (person.id, person.household_id) if i is not None]))
        .order_by(User.id).limit(1))
    return person, user


def verify(session: Session, cipher: FieldCipher, ticket: str, code: str, *,
           now: dt.datetime | None = None) -> Verified:
    """The account the code signs in, or why not. A wrong code is answered, not raised, so the
    count of failures commits with the request."""
    now = now or utcnow()
    row = session.scalar(sa.select(SignInCode).where(
        SignInCode.ticket_hash == _hash(cipher, "ticket", (ticket or "")[:64])).with_for_update())
    typed = "".join((code or "").split())[:DIGITS + 2]
    if row is None or row.used_at is not None or row.failures >= MAX_FAILURES or \
            now >= row.expires_at or row.code_hash is None:
        return Verified(None, Message(WRONG))
    if not (typed.isdigit() and hmac.compare_digest(
            row.code_hash, _hash(cipher, "code", f"{ticket}:{typed}"))):
        row.failures += 1
        if row.failures >= MAX_FAILURES:
            _blank(session, row)
        return Verified(None, Message(WRONG))
    user = session.get(User, row.user_id) if row.user_id is not None else None
    row.used_at = now
    _blank(session, row)
    if user is None or not user.is_active:
        return Verified(None, Message(WRONG))
    return Verified(user)


def _retire(session: Session, id_index: str, now: dt.datetime) -> None:
    """A new request ends the earlier codes of the same ID (only the newest works), and the
    outbox forgets codes that expired."""
    earlier = session.scalars(sa.select(SignInCode).where(
        SignInCode.id_index == id_index, SignInCode.used_at.is_(None),
        SignInCode.code_hash.is_not(None))).all()
    for row in earlier:
        row.used_at = now
        _blank(session, row)
    expired = session.scalars(sa.select(SignInCode).where(
        SignInCode.expires_at <= now, SignInCode.code_hash.is_not(None),
        SignInCode.outbox_id.is_not(None))).all()
    for row in expired:
        _blank(session, row)


def _blank(session: Session, row: SignInCode) -> None:
    """The code leaves the outbox row and this row (it can no longer be used)."""
    row.code_hash = None
    if row.outbox_id is not None:
        session.execute(sa.update(Notification).where(Notification.id == row.outbox_id)
                        .values(params={"code": BLANK})
                        .execution_options(synchronize_session=False))
