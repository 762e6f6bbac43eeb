"""How privacy's rows are reached (R-7.1, R-7.2): each table described once for the access layer.

Who reaches which of them for which purpose is the one table, :mod:`ctown.access.policy`
("consent", "query", "objection", "complaint", "audit"). Consents, queries and objections are
about a household and are reached where it lives (the subject's region); a complaint is its
author's (and the privacy officer's); the audit trail is the auditors' as a whole.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute

from ctown.access.scope import Resource
from ctown.privacy.models import AuditEvent, Complaint, Consent, CreditQuery, Objection
from ctown.registry.models import Subject


def _region_of(subject_id: InstrumentedAttribute[int]) -> sa.ColumnElement[str]:
    """The region of the row's subject: rows about a household are reached where it lives."""
    return (sa.select(Subject.region_code).where(Subject.id == subject_id)
            .correlate_except(Subject).scalar_subquery())


#: Consents (授权): to a bank (its ``bank_code``) or for collection (``bank_code`` "").
CONSENTS = Resource("consent", Consent, Consent.id, label="consent",
                    region=_region_of(Consent.subject_id), subject=Consent.subject_id,
                    bank=Consent.bank_code)
#: The query log (查询记录) of a household.
QUERIES = Resource("query", CreditQuery, CreditQuery.id, label="credit query",
                   region=_region_of(CreditQuery.subject_id), subject=CreditQuery.subject_id)
#: Objections (异议) about a household's records.
OBJECTIONS = Resource("objection", Objection, Objection.id, label="objection",
                      region=_region_of(Objection.subject_id), subject=Objection.subject_id)
#: Privacy complaints (投诉): their author's.
COMPLAINTS = Resource("complaint", Complaint, Complaint.id, label="complaint",
                      owner=Complaint.raised_by_id)
#: The audit trail (审计日志).
AUDIT_TRAIL = Resource("audit", AuditEvent, AuditEvent.id, label="audit event")
