"""feedback in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, EncryptedColumns, Job

CAPABILITY = Capability(
    name="feedback",
    models="ctown.feedback.models",
    api="ctown.feedback.api:router",
    pages="ctown.feedback.views:router",
    nav="ctown.feedback.views:NAV",
    cli="ctown.feedback.cli:register",
    demo="ctown.feedback.demo:build",
    status="ctown.feedback.status:counts",
    encrypted=(
        # The farmer's words and the answer: names and numbers among them.
        EncryptedColumns("ctown.feedback.models:Feedback", ("text_cipher", "answer_cipher"),
                         "ctown.feedback.service:row_aad", ("ref",)),
    ),
    jobs=(
        Job("feedback escalate", "every 15 minutes", "ctown.feedback.cli:escalate_cmd",
            "feedback and complaints unanswered after 48 hours move up (R-6.4)"),
    ),
)
