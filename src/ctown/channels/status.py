"""Counts of the farmers' channels for ``ctown status`` (counts only)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.channels.models import InboundSms, SignInCode


def counts(session: Session) -> dict[str, int]:
    inbound, answered = session.execute(sa.select(
        sa.func.count(), sa.func.count(InboundSms.outbox_id))).one()
    codes = session.scalar(sa.select(sa.func.count()).select_from(SignInCode)) or 0
    return {"channels.sms_inbound": int(inbound), "channels.sms_answered": int(answered),
            "channels.sign_in_codes": int(codes)}
