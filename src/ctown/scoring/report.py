"""The validation report of a model version (page and downloadable file): AUC, KS, calibration,
PSI between the training and the current population, PSI month by month after go-live, grade
distribution, outcomes by age band, rank ordering, sign-offs and the impact assessment."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.scoring import ranking, review
from ctown.scoring.grades import GRADES
from ctown.scoring.models import GradeRecord, ModelVersion, ScoringRun


def grade_distribution(session: Session) -> dict[str, int]:
    rows = dict(session.execute(sa.select(GradeRecord.grade, sa.func.count())
                                .where(GradeRecord.is_current.is_(True))
                                .group_by(GradeRecord.grade)).all())
    return {g: int(rows.get(g, 0)) for g in GRADES}


def monthly_psi(session: Session, version: ModelVersion) -> list[dict[str, Any]]:
    """The last run of each month with this version live, and its PSI against training."""
    runs = session.scalars(sa.select(ScoringRun).where(
        ScoringRun.model_version == version.version, ScoringRun.finished_at.is_not(None))
        .order_by(ScoringRun.id)).all()
    by_month: dict[str, ScoringRun] = {}
    for run in runs:
        if run.distribution.get("psi") is not None:
            by_month[run.started_at.strftime("%Y-%m")] = run
    return [{"month": m, "psi": r.distribution["psi"], "run_id": r.id, "scored": r.scored}
            for m, r in sorted(by_month.items())]


def psi_flag(psi: float | None) -> str:
    if psi is None:
        return "n/a"
    return "stable" if psi < 0.1 else "watch" if psi < 0.25 else "shifted"


def validation_report(session: Session, version_id: int) -> dict[str, Any]:
    version = review.get_version(session, version_id)
    m = version.metrics
    months = monthly_psi(session, version)
    current_psi = months[-1]["psi"] if months else None
    return {
        "version": version.version, "status": version.status, "algorithm": version.algorithm,
        "fingerprint": version.fingerprint,
        "created_at": version.created_at.isoformat(),
        "activated_at": version.activated_at.isoformat() if version.activated_at else None,
        "retain_until": version.retain_until.isoformat(),
        "auc": m.get("auc"), "ks": m.get("ks"), "gini": m.get("gini"),
        "auc_true_pd": m.get("auc_true_pd"), "challenger": m.get("challenger"),
        "n_train": m.get("n_train"), "n_holdout": m.get("n_holdout"),
        "calibration": m.get("calibration", []),
        "by_age_band": m.get("by_age_band", []),
        "rank_ordering": ranking.with_status(m.get("rank_ordering", [])),
        "rank_ordering_verdict": ranking.verdict(m.get("rank_ordering", [])),
        "psi_current": current_psi, "psi_status": psi_flag(current_psi),
        "psi_monthly": months,
        "grade_distribution": grade_distribution(session),
        "features": m.get("features", []),
        "signoffs": [{"role": s.role, "user_id": s.user_id, "statement": s.statement,
                      "signed_at": s.signed_at.isoformat()}
                     for s in review.signoffs(session, version.id)],
        "missing_signoffs": review.missing_signoffs(session, version.id),
        "impact_assessment": version.impact_assessment,
    }
