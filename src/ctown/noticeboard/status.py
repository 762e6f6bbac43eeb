"""Counts of the notice board for ``ctown status``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.noticeboard.models import NoticeEdition, PublicationConsent


def counts(session: Session) -> dict[str, int]:
    def count(*what: sa.ColumnElement[bool], model: type = PublicationConsent) -> int:
        stmt = sa.select(sa.func.count()).select_from(model)
        return int(session.scalar(stmt.where(*what) if what else stmt) or 0)

    return {"noticeboard.editions": count(model=NoticeEdition),
            "noticeboard.villages": int(session.scalar(
                sa.select(sa.func.count(sa.distinct(NoticeEdition.village_code)))) or 0),
            "noticeboard.consents": count(PublicationConsent.revoked_at.is_(None)),
            "noticeboard.consents.withdrawn": count(PublicationConsent.revoked_at.is_not(None))}
