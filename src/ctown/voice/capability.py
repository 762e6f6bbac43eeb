"""voice in the capability contract (:mod:`ctown.capabilities`).

No policy row: a call reaches only the household the phone on file and the resident ID's last
four digits identify (no actor, as the SMS channel), and read-aloud speaks what the signed-in
user's page already shows; no role lists or opens calls."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="voice",
    models="ctown.voice.models",
    api="ctown.voice.api:router",
    demo="ctown.voice.demo:build",
    cli="ctown.voice.cli:register",
    status="ctown.voice.status:counts",
)
