"""noticeboard in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, Job, LedgerSource

CAPABILITY = Capability(
    name="noticeboard",
    models="ctown.noticeboard.models",
    pages="ctown.noticeboard.views:router",
    nav="ctown.noticeboard.views:NAV",
    subject_links="ctown.noticeboard.views:SUBJECT_LINKS",
    cli="ctown.noticeboard.cli:register",
    demo="ctown.noticeboard.demo:build",
    status="ctown.noticeboard.status:counts",
    ledger=(
        # Each edition of a village's board: what a printed board is checked against.
        LedgerSource("notice_edition", "ctown.noticeboard.models:NoticeEdition",
                     ("id", "village_code", "period", "built_at", "built_by_id",
                      "objection_until", "households", "named", "content_sha256", "pdf_sha256",
                      "pdf_bytes")),
    ),
    jobs=(
        # "Monthly" is not a schedule word of the contract: run daily, a village is built when
        # its month has no edition yet (or a household it names withdrew), so a missed day
        # catches up.
        Job("notice build-all", "daily 03:00", "ctown.noticeboard.cli:build_all_cmd",
            "a new notice-board edition for each village due this month (R-4.5)"),
    ),
)
