"""Data-quality figures (三率) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability, Job

CAPABILITY = Capability(
    name="quality",
    models="ctown.quality.models",
    api="ctown.quality.api:router",
    pages="ctown.quality.views:router",
    nav="ctown.quality.views:NAV",
    cli="ctown.quality.cli:register",
    demo="ctown.quality.demo:build",
    status="ctown.quality.status:counts",
    jobs=(
        Job("kpi probe", "every 5 minutes", "ctown.quality.cli:probe", "stability rate (三率)",
            args="--url http://127.0.0.1:8000"),
    ),
)
