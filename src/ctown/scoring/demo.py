"""Demo county: train the model from the credit files and the loan outcomes, take it through the
three-party review (bank, township, third-party evaluator sign; the county admin activates) and
score the whole county. Run again, it reuses the version and rescores only what changed."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.ingest.models import CurrentValue
from ctown.scoring import county, review, tasks
from ctown.scoring.models import ModelVersion
from ctown.settings import Settings

SIGNERS = ("bank", "township", "auditor")


def _users(session: Session) -> dict[str, User]:
    names = (*SIGNERS, "admin")
    return {u.username: u for u in session.scalars(sa.select(User).where(
        User.username.in_(names)))}


def _go_live(session: Session, version: ModelVersion, users: dict[str, User]) -> None:
    signed = {s.user_id for s in review.signoffs(session, version.id)}
    for name in SIGNERS:
        if name in users and users[name].id not in signed:
            review.sign_off(session, version_id=version.id, actor=users[name])
    if "admin" in users and not review.missing_signoffs(session, version.id):
        review.activate(session, version_id=version.id, actor=users["admin"])


def build(session: Session, settings: Settings, workdir: Path) -> None:
    hidden = workdir / "_hidden"
    has_file = session.scalar(sa.select(CurrentValue.subject_id).limit(1)) is not None
    if (review.live_version(session) is None and has_file
            and (hidden / "outcomes.csv").exists()):
        users = _users(session)
        version, _report = county.train_county(session, hidden / "outcomes.csv",
                                               actor=users.get("admin"),
                                               risk_path=hidden / "risk.csv")
        if version.status == "draft":
            _go_live(session, version, users)
    last = tasks.last_run(session)
    if last is None:
        tasks.score_all(session)
    elif last.upto_batch_id is not None:
        tasks.rescore_changed(session, last.upto_batch_id)
