"""The credit report and audit pages (信用报告与回执) in the capability contract."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="report",
    api="ctown.report.api:router",
    pages="ctown.report.views:router",
    nav="ctown.report.views:NAV",
    subject_links="ctown.report.views:SUBJECT_LINKS",
    demo="ctown.report.demo:build",
)
