"""The one-time code's SMS (授权验证码), through :mod:`ctown.notify`'s outbox.

The code has to travel in the outbox row's parameters until the sender renders the text; once the
SMS went out (:func:`on_delivered`, called by the sender in its delivery transaction), or the
mandate was confirmed or revoked first (:func:`scrub`), the code is blanked in the row, so the
outbox keeps no usable code beyond its ten minutes. The console backend of the demo writes the
text, code included, to the server's log — that is how the demo officer learns it; a county's
SMS gateway replaces it (``CTOWN_SMS_BACKEND``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.i18n import _
from ctown.notify import service as notify
from ctown.notify.channels import SMS, Outgoing
from ctown.notify.models import Notification

SOURCE = "proxy"
MANDATE = "proxy_mandate"
BLANK = "······"
MESSAGE = _("您正在授权 {proxy} 作为您家的信用代理员（{scope}），有效期至 {until}。验证码 {code}，"
            "10 分钟内有效。如是您本人同意，请当面告诉村信用信息员；如非本人操作，请勿告诉任何人。")


def queue_code(session: Session, mandate_id: int, holder_id: int, *, proxy: str, scope: str,
               until: str, code: str) -> None:
    """The SMS to the household head with the code (delivered after commit)."""
    notify.queue(session, channel=SMS, msgid=MESSAGE, source=SOURCE, subject_id=holder_id,
                 ref_kind=MANDATE, ref_id=mandate_id,
                 params={"proxy": proxy, "scope": scope, "until": until, "code": code})


def scrub(session: Session, mandate_id: int) -> None:
    """Blank the code in every outbox row about this mandate."""
    rows = session.execute(sa.select(Notification.id, Notification.params).where(
        Notification.ref_kind == MANDATE, Notification.ref_id == mandate_id)).all()
    _blank(session, [(i, p) for i, p in rows])


def on_delivered(session: Session, delivered: Sequence[Outgoing]) -> None:
    """The SMS went out: its code need not be kept any more."""
    _blank(session, [(n.id, n.params) for n in delivered if n.ref_kind == MANDATE])


def _blank(session: Session, rows: list[tuple[int, object]]) -> None:
    for notice_id, params in rows:
        if isinstance(params, Mapping) and params.get("code") not in (None, BLANK):
            session.execute(sa.update(Notification).where(Notification.id == notice_id)
                            .values(params={**params, "code": BLANK})
                            .execution_options(synchronize_session=False))
