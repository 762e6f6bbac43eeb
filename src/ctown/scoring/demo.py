"""Demo county: train the model from the credit files and the loan outcomes, take it through the
three-party review (bank, township, third-party evaluator sign; the county admin activates) and
score the whole county. Run again, it reuses the version and rescores only what changed."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.ingest.models import CurrentValue
from ctown.scoring import county, review, tasks
from ctown.scoring.models import ModelVersion

#: The three parties that sign a model off (三方复核): the bank, the township, the evaluator.
SIGNERS = (Role.bank_officer, Role.township_officer, Role.evaluator)


def _go_live(session: Session, version: ModelVersion, signers: list[User],
             admin: User | None) -> None:
    signed = {s.user_id for s in review.signoffs(session, version.id)}
    for signer in signers:
        if signer.id not in signed:
            review.sign_off(session, version_id=version.id, actor=signer)
    if admin is not None and not review.missing_signoffs(session, version.id):
        review.activate(session, version_id=version.id, actor=admin)


def build(session: Session, ctx: DemoContext) -> None:
    hidden = ctx.workdir / "_hidden"
    has_file = session.scalar(sa.select(CurrentValue.subject_id).limit(1)) is not None
    if (review.live_version(session) is None and has_file
            and (hidden / "outcomes.csv").exists()):
        admin = ctx.user(session, Role.county_admin)
        version, _report = county.train_county(session, hidden / "outcomes.csv", actor=admin,
                                               risk_path=hidden / "risk.csv")
        if version.status == "draft":
            signers = [u for role in SIGNERS if (u := ctx.user(session, role)) is not None]
            _go_live(session, version, signers, admin)
    last = tasks.last_run(session)
    if last is None:
        tasks.score_all(session)
    elif last.upto_batch_id is not None:
        tasks.rescore_changed(session, last.upto_batch_id)
