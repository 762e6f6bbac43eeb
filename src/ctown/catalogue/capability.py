"""Indicator catalogue (信用信息采集规范) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="catalogue",
    models="ctown.catalogue.models",
    pages="ctown.catalogue.views:router",
    nav="ctown.catalogue.views:NAV",
    cli="ctown.catalogue.cli:register",
    status="ctown.catalogue.status:counts",
)
