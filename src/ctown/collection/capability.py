"""Village collection points (信用信息采集点) in the capability contract
(:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="collection",
    models="ctown.collection.models",
    api="ctown.collection.api:router",
    pages="ctown.collection.views:router",
    nav="ctown.collection.views:NAV",
    cli="ctown.collection.cli:register",
    demo="ctown.collection.demo:build",
    status="ctown.collection.status:counts",
)
