"""Accounts (用户与角色) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="accounts",
    models="ctown.accounts.models",
    api="ctown.accounts.api:router",
    pages="ctown.accounts.views:router",
    status="ctown.accounts.status:counts",
)
