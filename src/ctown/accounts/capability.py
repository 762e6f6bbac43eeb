"""Accounts (用户与角色) in the capability contract (:mod:`ctown.capabilities`)."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="accounts",
    models="ctown.accounts.models",
    api="ctown.accounts.api:router",
    pages="ctown.accounts.views:router",
    nav="ctown.accounts.views:NAV",
    cli="ctown.accounts.cli:register",
    demo="ctown.accounts.demo:build",
    status="ctown.accounts.status:counts",
)
