"""The access layer (访问控制) in the capability contract: its table, printed by a command."""

from ctown.capabilities import Capability

CAPABILITY = Capability(name="access", cli="ctown.access.cli:register")
