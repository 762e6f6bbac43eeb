"""Financial services (金融服务) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, Job, LedgerSource

CAPABILITY = Capability(
    name="lending",
    models="ctown.lending.models",
    api="ctown.lending.api:router",
    pages="ctown.lending.views:router",
    nav="ctown.lending.views:NAV",
    subject_links="ctown.lending.views:SUBJECT_LINKS",
    cli="ctown.lending.cli:register",
    demo="ctown.lending.demo:build",
    status="ctown.lending.status:counts",
    ledger=(
        # Every step of a loan application (submit, reviews, approval, refusal): append-only.
        LedgerSource("loan_decision", "ctown.lending.models:Transition",
                     ("id", "application_id", "action", "from_state", "to_state", "actor_id",
                      "actor_role", "at", "reason")),
    ),
    jobs=(
        Job("lending assess", "daily 01:00", "ctown.lending.cli:assess",
            "days past due, five-category classification"),
        Job("lending remind", "daily 08:00", "ctown.lending.cli:remind",
            "warn officers before the 3-working-day approval limit"),
        Job("lending send-notices", "after a crash", "ctown.lending.cli:send_notices",
            "notices committed but not yet sent"),
    ),
)
