"""Credit proxies (信用代理) in the capability contract (:mod:`ctown.capabilities`).

The table (``proxy_mandates``) is ``accounts``' — the access layer below reads it on every query
of a proxy — so this package declares no models of its own."""

from ctown.capabilities import Capability

CAPABILITY = Capability(
    name="proxy",
    api="ctown.proxy.api:router",
    pages="ctown.proxy.views:router",
    nav="ctown.proxy.views:NAV",
    cli="ctown.proxy.cli:register",
    demo="ctown.proxy.demo:build",
    status="ctown.proxy.status:counts",
)
