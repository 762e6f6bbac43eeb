"""Credit evaluation (信用评价) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, Job, LedgerSource

CAPABILITY = Capability(
    name="scoring",
    models="ctown.scoring.models",
    api="ctown.scoring.api:router",
    pages="ctown.scoring.views:router",
    nav="ctown.scoring.views:NAV",
    subject_links="ctown.scoring.views:SUBJECT_LINKS",
    cli="ctown.scoring.cli:register",
    demo="ctown.scoring.demo:build",
    status="ctown.scoring.status:counts",
    ledger=(
        # Every grade given (五级十档); ``is_current`` changes when superseded, so it is left out.
        LedgerSource("grade", "ctown.scoring.models:GradeRecord",
                     ("id", "subject_id", "score", "grade", "pd", "model_version", "scored_at")),
    ),
    jobs=(
        Job("score", "after ingest", "ctown.scoring.cli:score_command",
            "rescore subjects whose data changed", args="--since-batch N"),
    ),
)
