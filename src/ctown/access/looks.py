"""Every look at a subject's data by someone other than the household itself is written to the
query log the farmer reads (征信业管理条例 art. 22: who, which institution, why, when).

Bank queries under consent are logged by :func:`ctown.privacy.service.request_access` (allowed or
refused); this covers every other look — an officer opening a credit file, an evaluator's sample,
and the household's credit proxy (信用代理员): a proxy acts *for* the household but is not it, and
the farmer's page lists every act of every proxy (ctown.proxy), their looks with the rest.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ctown.access.scope import is_own_household
from ctown.accounts.models import User
from ctown.db import bulk_insert, utcnow
from ctown.privacy.models import CreditQuery
from ctown.registry.models import Subject


def record_look(session: Session, actor: User | None, subject: Subject, purpose: str,
                consent_id: int | None = None) -> CreditQuery | None:
    """Log a look at ``subject``'s data for ``purpose`` (none for the household's own look)."""
    if actor is None or is_own_household(actor, subject):
        return None
    query = CreditQuery(subject_id=subject.id, **_entry(actor, purpose, consent_id))
    session.add(query)
    session.flush()
    return query


def record_looks(session: Session, actor: User, subject_ids: list[int], purpose: str) -> None:
    """Log a look at many subjects at once (a whole village listed to a bank), in one insert:
    a village of 2,000 households is one COPY, not 2,000 ORM objects. For actors outside the
    household side only (banks), so no subject is skipped."""
    entry = _entry(actor, purpose, None)
    bulk_insert(session, CreditQuery.__table__, [{"subject_id": sid, **entry}
                                                 for sid in subject_ids])


def _entry(actor: User, purpose: str, consent_id: int | None) -> dict[str, Any]:
    """Who looked, from which institution (a bank's code, an office's region), why, when."""
    return {"at": utcnow(), "actor_id": actor.id,
            "actor_name": actor.display_name or actor.username,
            "institution": actor.bank_code or actor.region_code, "purpose": purpose[:24],
            "outcome": "allowed", "consent_id": consent_id}
