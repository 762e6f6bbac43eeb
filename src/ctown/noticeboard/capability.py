"""noticeboard in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="noticeboard",
)
