"""Counts of proxy mandates for ``ctown status``."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import ProxyMandate
from ctown.proxy.service import State, state_is


def counts(session: Session) -> dict[str, int]:
    total = session.scalar(sa.select(sa.func.count()).select_from(ProxyMandate)) or 0
    live = {s: session.scalar(sa.select(sa.func.count()).select_from(ProxyMandate)
                              .where(state_is(s))) or 0 for s in (State.in_force, State.awaiting)}
    return {"proxy.mandates": total, "proxy.in_force": live[State.in_force],
            "proxy.awaiting": live[State.awaiting]}
