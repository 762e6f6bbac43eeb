"""Counts for ``ctown status --json`` (counts only: deterministic)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.scoring.grades import GRADES
from ctown.scoring.models import GradeRecord, ModelVersion


def counts(session: Session) -> dict[str, int]:
    out = {f"scoring.grade_{g}": 0 for g in GRADES}
    for grade, n in session.execute(sa.select(GradeRecord.grade, sa.func.count())
                                    .where(GradeRecord.is_current.is_(True))
                                    .group_by(GradeRecord.grade)):
        out[f"scoring.grade_{grade}"] = n
    out["scoring.graded_subjects"] = sum(out.values())
    out["scoring.model_versions"] = session.scalar(
        sa.select(sa.func.count()).select_from(ModelVersion)) or 0
    out["scoring.live_models"] = session.scalar(
        sa.select(sa.func.count()).where(ModelVersion.status == "live")) or 0
    return out
