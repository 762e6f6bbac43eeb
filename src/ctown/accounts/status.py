"""Counts for ``ctown status --json`` (counts only: deterministic)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import User


def counts(session: Session) -> dict[str, int]:
    return {"accounts.users": session.scalar(sa.select(sa.func.count()).select_from(User)) or 0}
