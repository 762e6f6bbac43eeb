"""How the notice board's things are reached (R-4.5, R-7.1): described once for the access layer.

Who reaches them for which purpose is the ``"notice"`` and ``"publication"`` rows of
:mod:`ctown.access.policy`. A village's board is built by the officers of the place; the consent
to be named on it is given or withdrawn by the household, its proxy (a mandate of scope
"consent") or the village officer with the signed paper form. Reading a board needs no one: it
is a public notice, and holds only aggregates and the consenting households' masked names.
"""

from __future__ import annotations

from ctown.access.scope import Resource
from ctown.noticeboard.models import NoticeEdition
from ctown.registry.models import Region, Subject

#: Villages whose board an officer builds (信用公示栏).
VILLAGES = Resource("notice", Region, Region.code, label="notice board", region=Region.code)
#: Editions, reached where their village is (an officer's list and old files).
EDITIONS = Resource("notice_edition", NoticeEdition, NoticeEdition.id, label="notice edition",
                    region=NoticeEdition.village_code)
#: Households whose consent to publication (公示授权) one gives, withdraws or reads.
HOUSEHOLDS = Resource("publication", Subject, Subject.id, label="publication consent",
                      region=Subject.region_code, subject=Subject.id)
