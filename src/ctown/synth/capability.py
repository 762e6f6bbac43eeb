"""The synthetic county generator (模拟县) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability

CAPABILITY = Capability(name="synth", cli="ctown.synth.cli:register")
