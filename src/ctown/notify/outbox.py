"""What the outbox holds, as ``ctown notify outbox`` lists it: the number masked, never clear.

The rendered text is shown as the recipient will read it — a sign-in code included, which is
how the demo learns the code the console backend does not log (docs/channels.md). The code is
blanked in the row once used, replaced or expired (``ctown.channels.otp``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.crypto import DecryptionError, FieldCipher
from ctown.i18n import translate
from ctown.masking import mask_phone
from ctown.notify import address
from ctown.notify.channels import SMS
from ctown.notify.models import Notification
from ctown.notify.optout import OPTED_OUT


def status_of(row: Notification) -> str:
    if row.sent_at is not None:
        return "sent"
    if row.last_error == OPTED_OUT:
        return "opted_out"
    return "failed" if row.failed_at is not None else "queued"


def rows(session: Session, cipher: FieldCipher, *, limit: int = 50, channel: str | None = None,
         locale: str | None = None) -> Iterator[dict[str, Any]]:
    """The newest ``limit`` notices, oldest first: ``id, channel, to, text, status``."""
    stmt = sa.select(Notification).order_by(Notification.id.desc()).limit(limit)
    if channel:
        stmt = stmt.where(Notification.channel == channel)
    found = list(reversed(session.scalars(stmt).all()))
    on_file = address.resolve(session, (n.subject_id for n in found
                                        if n.channel == SMS and n.subject_id is not None
                                        and n.address_cipher is None))
    for n in found:
        yield {"id": n.id, "channel": n.channel, "to": _to(cipher, n, on_file),
               "text": translate(n.msgid, locale, **(n.params or {})), "status": status_of(n),
               "source": n.source}


def _to(cipher: FieldCipher, n: Notification, on_file: dict[int, address.OnFile]) -> str:
    if n.channel != SMS:
        return f"user {n.user_id}" if n.user_id else f"subject {n.subject_id}"
    try:
        if n.address_cipher:
            return mask_phone(cipher.decrypt(n.address_cipher, address.outbox_aad(n.id)))
        found = on_file.get(n.subject_id) if n.subject_id is not None else None
        return mask_phone(cipher.decrypt(found.token, found.aad)) if found else ""
    except DecryptionError:
        return "?"
