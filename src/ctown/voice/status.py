"""Counts of voice calls for ``ctown status``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.voice.models import VoiceCall


def counts(session: Session) -> dict[str, int]:
    total = session.scalar(sa.select(sa.func.count()).select_from(VoiceCall)) or 0
    identified = session.scalar(sa.select(sa.func.count()).select_from(VoiceCall).where(
        VoiceCall.subject_id.is_not(None))) or 0
    return {"voice.calls": total, "voice.identified": identified}
