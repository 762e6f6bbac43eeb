"""``ctown status``: counts only, so that two identical loads print identical output.

Each capability declares its own counts (``Capability.status``), keyed ``<name>.<what>``.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from ctown.capabilities import capabilities


def collect(session: Session) -> dict[str, int]:
    counts: dict[str, int] = {}
    for cap in capabilities():
        fn = cap.status_counts()
        if fn is not None:
            counts.update(fn(session))
    return counts
