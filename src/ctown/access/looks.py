"""Every look at a subject's data by someone other than the household and its proxy is written
to the query log the farmer reads (征信业管理条例 art. 22: who, which institution, why, when).

Bank queries under consent are logged by :func:`ctown.privacy.service.request_access` (allowed or
refused); this covers every other look — an officer opening a credit file, an evaluator's sample.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.access.scope import is_own_household
from ctown.accounts.models import ProxyMandate, User
from ctown.db import bulk_insert, utcnow
from ctown.privacy.models import CreditQuery
from ctown.registry.models import Subject


def is_household_side(session: Session, actor: User, subject: Subject) -> bool:
    """The household itself, or a proxy holding its mandate: their looks are not "queries"."""
    if is_own_household(actor, subject):
        return True
    household = rules.household_id_of(subject)
    return session.query(ProxyMandate.id).filter(
        ProxyMandate.proxy_id == actor.id, ProxyMandate.subject_id == household,
        rules.mandate_valid()).first() is not None


def record_look(session: Session, actor: User | None, subject: Subject, purpose: str,
                consent_id: int | None = None) -> CreditQuery | None:
    """Log a look at ``subject``'s data for ``purpose`` (none for the household's own side)."""
    if actor is None or is_household_side(session, actor, subject):
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
