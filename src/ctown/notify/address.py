"""Where an SMS goes (收件号码): the phone on file, or an address of the notice's own.

A notice names a subject, not a number. The sender looks the number up when it sends
(:func:`resolve`): a person's own phone on file, or, for a household, its head's (户主) — the
number the registry holds at that moment, so a number changed after queueing is the one used.
A notice that is not for a phone on file (the reply to a number nobody registered) carries its
own address, encrypted in the outbox row (``address_cipher``, :func:`seal`). Either way the
backend gets only the field cipher's token and its associated data; it alone decrypts them
(:meth:`ctown.notify.channels.Outgoing.address`), and nothing on the way logs a number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.crypto import FieldCipher
from ctown.registry.models import Subject
from ctown.registry.service import subject_aad

PHONE_PURPOSE = "phone"  # the registry's blind-index purpose of phone numbers
_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalise_phone(raw: object) -> str | None:
    """A mainland mobile number as the registry keeps it (``13812345678``), or None.

    Full-width digits, spaces, dashes, dots, brackets and a ``+86`` / ``0086`` / ``86`` prefix
    are what gateways and people write around the same eleven digits."""
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    text = re.sub(r"[\s\-().·]", "", text)
    text = re.sub(r"^(?:\+86|0086|86)(?=1\d{10}$)", "", text)
    return text if _MOBILE.fullmatch(text) else None


def outbox_aad(notice_id: int) -> str:
    """The associated data binding an outbox address to its row (key rotation: :func:`row_aad`)."""
    return f"notify_outbox.address_cipher:{notice_id}"


def row_aad(column: str, row: Mapping[str, Any]) -> str:
    """``Capability.encrypted`` of notify: the address of a stored outbox row."""
    return outbox_aad(int(row["id"]))


def seal(cipher: FieldCipher, notice_id: int, phone: str) -> str:
    return cipher.encrypt(phone, outbox_aad(notice_id))


@dataclass(frozen=True)
class OnFile:
    """A subject's phone on file as the sender sees it: the token, its associated data, and the
    number's blind index (for the opt-outs)."""

    token: str
    aad: str
    phone_index: str | None


def resolve(session: Session, subject_ids: Iterable[int]) -> dict[int, OnFile]:
    """The phone on file of each subject (a household: its head's), in two queries."""
    wanted = sorted(set(subject_ids))
    if not wanted:
        return {}
    found: dict[int, OnFile] = {}
    rows = session.execute(sa.select(Subject.id, Subject.kind, Subject.phone_cipher,
                                     Subject.phone_index, Subject.id_index)
                           .where(Subject.id.in_(wanted))).all()
    households = []
    for sid, kind, token, index, id_index in rows:
        if token and id_index:
            found[sid] = OnFile(token, subject_aad("phone_cipher", id_index), index)
        elif kind == "household":
            households.append(sid)
    if households:
        heads = session.execute(
            sa.select(Subject.household_id, Subject.phone_cipher, Subject.phone_index,
                      Subject.id_index)
            .where(Subject.household_id.in_(households), rules.is_head(Subject.relation),
                   Subject.phone_cipher.is_not(None), Subject.id_index.is_not(None))
            .order_by(Subject.id)).all()
        for household_id, token, index, id_index in heads:
            if household_id is not None and token and id_index:
                found.setdefault(household_id, OnFile(token, subject_aad("phone_cipher", id_index),
                                                      index))
    return found
