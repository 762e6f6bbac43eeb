"""How the rows of the feeds are reached (see :mod:`ctown.access.scope`): batches by department,
quarantined rows (隔离区) by the region their own row names and by department, identity
confirmations (身份待确认) and held values (授权暂存) through the subject they are about, the
register of departments (部门登记, with their push keys) by department.

Who reaches them for which purpose is the ``batch`` / ``quarantine`` / ``match`` / ``held_value``
/ ``department`` rows of :data:`ctown.access.policy.POLICY`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import QueryableAttribute, aliased

from ctown.access.scope import Resource
from ctown.ingest.models import Batch, Department, HeldValue, PendingMatch, QuarantinedRow
from ctown.registry.models import Subject


def _region_of(subject_id: QueryableAttribute[int]) -> sa.ScalarSelect[str]:
    """The region of the subject a row is about (a correlated look-up by primary key, so the
    resource stays one table: a join column would multiply the rows of ``get_for``)."""
    subject = aliased(Subject, name="about")  # its own alias: a query that joins subjects too
    return (sa.select(subject.region_code).where(subject.id == subject_id)
            .correlate_except(subject).scalar_subquery())


BATCHES = Resource("batch", Batch, Batch.id, label="batch", department=Batch.department)

#: ``region_code`` is what the row itself names (its village column, or the subject it resolved
#: to); rows that name none (and rows quarantined before it was kept) are the county's alone.
QUARANTINE = Resource("quarantine", QuarantinedRow, QuarantinedRow.id, label="quarantined row",
                      region=QuarantinedRow.region_code, department=QuarantinedRow.department)

MATCHES = Resource("match", PendingMatch, PendingMatch.id, label="match",
                   region=_region_of(PendingMatch.subject_id), subject=PendingMatch.subject_id,
                   department=PendingMatch.department)

HELD_VALUES = Resource("held_value", HeldValue, HeldValue.id, label="held value",
                       region=_region_of(HeldValue.household_id), subject=HeldValue.subject_id,
                       department=HeldValue.department)

#: The county's register of department feeds; a department's keys are reached through it.
DEPARTMENTS = Resource("department", Department, Department.id, label="department",
                       department=Department.code)
