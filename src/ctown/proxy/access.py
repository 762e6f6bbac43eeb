"""How mandates are reached (R-6.3, R-7.1): the one table of the access layer describes it once.

A mandate is about a household and is reached where the household lives (its officers, the
privacy officer), by the household itself (``self``), and by the proxy it was given to
(``owner``). Who reaches it for which purpose is the ``"mandate"`` row of
:mod:`ctown.access.policy`; what a mandate in force lets the proxy reach is the access layer's
own rule (``rules.mandate_valid``, ``policy.BY_MANDATE``).
"""

from __future__ import annotations

import sqlalchemy as sa

from ctown.access.scope import Resource
from ctown.accounts.models import ProxyMandate
from ctown.registry.models import Subject

#: Proxy mandates (信用代理授权): the household's region, the household, the proxy.
MANDATES = Resource(
    "mandate", ProxyMandate, ProxyMandate.id, label="proxy mandate",
    region=(sa.select(Subject.region_code).where(Subject.id == ProxyMandate.subject_id)
            .correlate_except(Subject).scalar_subquery()),
    subject=ProxyMandate.subject_id, owner=ProxyMandate.proxy_id)
