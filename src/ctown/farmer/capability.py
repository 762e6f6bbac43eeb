"""farmer in the capability contract (:mod:`ctown.capabilities`): pages only — the summary reads
the other capabilities' tables through their services, so there is no table of its own."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="farmer",
    pages="ctown.farmer.views:router",
    nav="ctown.farmer.views:NAV",
    demo="ctown.farmer.demo:build",
)
