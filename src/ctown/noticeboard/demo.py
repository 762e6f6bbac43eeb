"""Demo: the demo farmer and every third graded household of the first village consented to be
named on the board (the village officer recorded the signed forms, the farmer gave it on the
phone); one household gave and withdrew again; the first village's board has an edition, and so
does every other demo village (the font is loaded once, each edition takes a fraction of a second:
``benchmarks/noticeboard.py``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.noticeboard import font, service
from ctown.noticeboard.models import NoticeEdition
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord

#: Demo villages with a board at most (the demo's own county has a handful; a big synthetic one
#: keeps the demo's time bounded).
MAX_VILLAGES = 12


def build(session: Session, ctx: DemoContext) -> None:
    officer, farmer = ctx.user(session, Role.village_officer), ctx.user(session, Role.farmer)
    if officer is None or session.scalar(sa.select(NoticeEdition.id).limit(1)) is not None:
        return  # no demo accounts, or built before: idempotent
    try:
        font.source_font()
    except font.FontMissing:
        return  # without the Chinese font the demo shows the consents, not the boards
    if farmer is not None and farmer.subject_id is not None:
        service.give_consent(session, farmer)
    households = list(session.scalars(
        sa.select(Subject.id).join(GradeRecord, sa.and_(GradeRecord.subject_id == Subject.id,
                                                        GradeRecord.is_current.is_(True)))
        .where(Subject.kind == "household", Subject.region_code == officer.region_code)
        .order_by(Subject.id)))
    chosen = households[::3][:40]
    for n, household in enumerate(chosen):
        service.give_consent(session, officer, household, form_no=f"DEMO-GS-{n + 1:04d}")
    home = farmer.subject_id if farmer is not None else None
    other = next((h for h in households if h not in chosen and h != home), None)
    if other is not None:  # one household agreed and changed its mind: the history shows both
        service.give_consent(session, officer, other, form_no="DEMO-GS-0999")
        service.withdraw_consent(session, officer, other)
    county = service.CountyFigures.compute(session)
    villages = service.all_villages(session)
    ordered = [officer.region_code, *(v for v in villages if v != officer.region_code)]
    for code in ordered[:MAX_VILLAGES]:
        service.build_edition(session, None, code, county=county)
