"""Consent and the farmer's rights (征信业管理条例, 个人信息保护法): authorisations to banks, the
credit report only under one, the query log, objections, complaints, and the audit trail.

Every change of state takes the acting user and writes an :class:`AuditEvent` in the same
transaction (the audit trail goes on the ledger). Services never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access.rules import CHINA, active_consent, household_id_of
from ctown.access.scope import get_subject_for, visible_subjects
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.db import utcnow
from ctown.errors import Forbidden, Invalid, NotFound
from ctown.i18n import Message, _
from ctown.privacy.models import AuditEvent, Complaint, Consent, CreditQuery, Objection
from ctown.registry.models import Subject

PURPOSES: dict[str, str] = {
    "loan_application": _("贷款审批"),
    "post_loan": _("贷后管理"),
    "credit_line": _("授信审查"),
    "guarantee": _("担保资格审查"),
}
SCOPES = ("query", "provide")
#: The household's written authorisation for the platform to collect consent-required
#: indicators (信息采集授权书); no bank, so ``bank_code`` is "" and ``purpose`` "collection".
COLLECT, COLLECTION = "collect", "collection"
COLLECT_YEARS = 3
#: The written-consent rule (条例 art. 14, PIPL art. 29) protects natural persons: values about
#: persons and households are held without it; entities and village collectives are not (their
#: tax and deposit figures are business information, published or given under other rules).
PERSONAL_KINDS = ("person", "household")
OBJECTION_DAYS = 20  # 条例 art. 25: answered within 20 days
COMPLAINT_DAYS = 15
MAX_CONSENT_DAYS = 3 * 366

#: Who may record a farmer's authorisation: the farmer, their mandated proxy, or the village
#: officer entering a signed paper form.
CONSENT_ROLES = frozenset({Role.farmer, Role.credit_proxy, Role.village_officer})
#: Who records a signed collection consent (信息采集授权书) — typed in from the paper form by
#: the village, township or county office, or given by the farmer — and who may revoke it.
COLLECT_ROLES = frozenset({Role.farmer, Role.credit_proxy, Role.village_officer,
                           Role.township_officer, Role.county_admin})
#: Who answers objections (the officers who verify the data) and who sees the audit trail.
OBJECTION_ROLES = frozenset({Role.county_admin, Role.township_officer, Role.privacy_officer})
AUDIT_ROLES = frozenset({Role.county_admin, Role.evaluator, Role.privacy_officer})


# -- audit trail ---------------------------------------------------------------------------------
def audit(session: Session, actor: User | None, action: str, target: str,
          **detail: Any) -> AuditEvent:
    """Record a sensitive action; never put a clear identifier in ``detail``."""
    event = AuditEvent(actor_id=actor.id if actor else None,
                       actor_role=actor.role if actor else None, action=action,
                       target=target[:200], detail=detail, at=utcnow())
    session.add(event)
    session.flush()
    return event


def audit_events(session: Session, actor: User, *, action: str | None = None,
                 limit: int = 200) -> list[AuditEvent]:
    _require(actor, AUDIT_ROLES)
    stmt = sa.select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    return list(session.scalars(stmt))


def _require(actor: User, roles: frozenset[Role]) -> None:
    if Role(actor.role) not in roles:
        raise Forbidden(Message(_("您的角色无权执行此操作")))


# -- consent -------------------------------------------------------------------------------------
def grant_consent(session: Session, actor: User, *, subject_id: int, bank_code: str,
                  purpose: str, scope: str = "query", days: int = 90) -> Consent:
    """Record an authorisation of ``bank_code`` for ``purpose`` during ``days`` (revocable)."""
    _require(actor, CONSENT_ROLES)
    subject = get_subject_for(session, actor, subject_id)
    if purpose not in PURPOSES or scope not in SCOPES or not bank_code.strip():
        raise Invalid(Message(_("授权的用途、范围或银行无效")))
    if not 1 <= days <= MAX_CONSENT_DAYS:
        raise Invalid(Message(_("授权期限应为 1 至 {max} 天"), {"max": MAX_CONSENT_DAYS}))
    now = utcnow()
    consent = Consent(subject_id=household_id_of(subject), bank_code=bank_code.strip(),
                      purpose=purpose, scope=scope, granted_by_id=actor.id, granted_at=now,
                      valid_until=now + dt.timedelta(days=days))
    session.add(consent)
    session.flush()
    audit(session, actor, "consent.grant", f"consent {consent.id}", subject_id=consent.subject_id,
          bank=consent.bank_code, purpose=purpose, scope=scope,
          valid_until=consent.valid_until.isoformat())
    return consent


def collection_valid_until(signed_on: dt.date, years: int = COLLECT_YEARS) -> dt.datetime:
    """End of a collection consent: ``years`` after signing, at midnight China time."""
    try:
        end = signed_on.replace(year=signed_on.year + years)
    except ValueError:  # signed on 29 February
        end = signed_on.replace(year=signed_on.year + years, day=28)
    return dt.datetime.combine(end, dt.time(0), CHINA).astimezone(dt.UTC)


def grant_collection_consent(session: Session, actor: User | None, *, subject_id: int,
                             signed_on: dt.date, form_no: str | None = None,
                             years: int = COLLECT_YEARS, now: dt.datetime | None = None
                             ) -> Consent:
    """Record a household's signed collection consent (信息采集授权书), valid ``years`` from
    signing. Only records it: the values held while it was missing are released by
    :func:`ctown.ingest.hold.grant_and_release`, which every caller outside tests should use."""
    if actor is not None:
        _require(actor, COLLECT_ROLES)
        subject = get_subject_for(session, actor, subject_id)
    else:  # a county batch job (``ctown consent import``) acts for the county
        subject = session.get(Subject, subject_id)
        if subject is None:
            raise NotFound()
    if subject.kind not in PERSONAL_KINDS:
        raise Invalid(Message(_("只有农户和个人需要信息采集授权")))
    if not 1 <= years <= 5 or signed_on > utcnow().astimezone(CHINA).date():
        raise Invalid(Message(_("签署日期不能晚于今天，有效期应为 1 至 5 年")))
    now = now or utcnow()
    consent = Consent(subject_id=household_id_of(subject), bank_code="", purpose=COLLECTION,
                      scope=COLLECT, granted_by_id=actor.id if actor else None, granted_at=now,
                      valid_until=collection_valid_until(signed_on, years),
                      form_no=(form_no or "").strip()[:40] or None, signed_on=signed_on)
    session.add(consent)
    session.flush()
    audit(session, actor, "consent.grant", f"consent {consent.id}", subject_id=consent.subject_id,
          scope=COLLECT, form_no=consent.form_no, valid_until=consent.valid_until.isoformat())
    return consent


def revoke_consent(session: Session, actor: User, consent_id: int) -> Consent:
    consent = session.get(Consent, consent_id)
    if consent is None:
        raise NotFound()
    _require(actor, COLLECT_ROLES if consent.scope == COLLECT else CONSENT_ROLES)
    get_subject_for(session, actor, consent.subject_id)
    if consent.revoked_at is None:
        consent.revoked_at, consent.revoked_by_id = utcnow(), actor.id
        audit(session, actor, "consent.revoke", f"consent {consent.id}",
              subject_id=consent.subject_id, bank=consent.bank_code)
    return consent


def consents_for(session: Session, actor: User, subject_id: int) -> list[Consent]:
    subject = get_subject_for(session, actor, subject_id)
    stmt = sa.select(Consent).where(Consent.subject_id == household_id_of(subject))
    if Role(actor.role) == Role.bank_officer:
        stmt = stmt.where(Consent.bank_code == (actor.bank_code or ""))
    return list(session.scalars(stmt.order_by(Consent.id.desc())))


@dataclass
class Access:
    """The answer to a bank's request: allowed or refused, and the query record either way."""

    allowed: bool
    query: CreditQuery
    subject: Subject
    consent: Consent | None
    reason: Message | None = None


def request_access(session: Session, actor: User, subject_id: int, purpose: str,
                   scope: str = "query") -> Access:
    """Check a bank officer's authorisation and log the attempt (allowed or refused).

    Refusals are answered normally (not raised) so that the refused query is committed with the
    request and shows on the farmer's page.
    """
    _require(actor, frozenset({Role.bank_officer}))
    if purpose not in PURPOSES:
        raise Invalid(Message(_("查询用途无效")))
    # Asking is reached county-wide (the refusal goes on the farmer's query log); the data itself
    # only under the consent checked next.
    subject = get_subject_for(session, actor, subject_id, "request_report")
    consent = active_consent(session, household_id_of(subject), actor.bank_code, purpose, scope)
    query = CreditQuery(subject_id=subject.id, actor_id=actor.id,
                        actor_name=actor.display_name or actor.username,
                        institution=actor.bank_code or "", purpose=purpose,
                        outcome="allowed" if consent else "refused",
                        consent_id=consent.id if consent else None, at=utcnow())
    session.add(query)
    session.flush()
    action = ("report.view" if scope == "query" else "data.provide") if consent else \
        "report.refused"
    audit(session, actor, action, f"subject {subject.id}", purpose=purpose, scope=scope,
          query_id=query.id, consent_id=query.consent_id)
    reason = None if consent else Message(_("该农户未授权贵行以此用途查询，查询已被拒绝并记录"))
    return Access(consent is not None, query, subject, consent, reason)


def queries_for(session: Session, actor: User, subject_id: int | None = None
                ) -> list[CreditQuery]:
    """The query log of a subject's household — for the farmer, their own household."""
    if subject_id is None:
        if actor.subject_id is None:
            return []
        subject_id = actor.subject_id
    subject = get_subject_for(session, actor, subject_id)
    household = household_id_of(subject)
    members = sa.select(Subject.id).where(
        sa.or_(Subject.id == household, Subject.household_id == household))
    return list(session.scalars(sa.select(CreditQuery).where(CreditQuery.subject_id.in_(members))
                                .order_by(CreditQuery.id.desc()).limit(500)))


# -- objections (异议) -----------------------------------------------------------------------------
def raise_objection(session: Session, actor: User, *, subject_id: int,
                    indicator_code: str | None, reason: str) -> Objection:
    subject = get_subject_for(session, actor, subject_id)
    if not reason.strip():
        raise Invalid(Message(_("请说明异议的理由")))
    now = utcnow()
    objection = Objection(subject_id=subject.id, indicator_code=indicator_code or None,
                          raised_by_id=actor.id, reason=reason.strip()[:4000], raised_at=now,
                          due_at=now + dt.timedelta(days=OBJECTION_DAYS), status="open")
    session.add(objection)
    session.flush()
    audit(session, actor, "objection.raise", f"objection {objection.id}", subject_id=subject.id,
          indicator=indicator_code)
    return objection


def answer_objection(session: Session, actor: User, objection_id: int, answer: str) -> Objection:
    _require(actor, OBJECTION_ROLES)
    objection = session.get(Objection, objection_id)
    if objection is None:
        raise NotFound()
    get_subject_for(session, actor, objection.subject_id)
    if not answer.strip():
        raise Invalid(Message(_("书面答复不能为空")))
    objection.answer, objection.status = answer.strip()[:4000], "answered"
    objection.answered_by_id, objection.answered_at = actor.id, utcnow()
    audit(session, actor, "objection.answer", f"objection {objection.id}",
          subject_id=objection.subject_id, late=objection.answered_at > objection.due_at)
    return objection


def objections_for(session: Session, actor: User, *, open_only: bool = False) -> list[Objection]:
    stmt = (sa.select(Objection).join(Subject, Subject.id == Objection.subject_id)
            .where(visible_subjects(actor)).order_by(Objection.due_at))
    if open_only:
        stmt = stmt.where(Objection.status == "open")
    return list(session.scalars(stmt.limit(500)))


def disputed_codes(session: Session, subject_ids: Sequence[int]) -> set[str]:
    """Indicators under an open objection: shown as disputed (有异议) in reports."""
    stmt = sa.select(Objection.indicator_code).where(
        Objection.subject_id.in_(list(subject_ids)), Objection.status == "open")
    return {c for c in session.scalars(stmt) if c}


def overdue_objections(session: Session, at: dt.datetime | None = None) -> list[Objection]:
    return list(session.scalars(sa.select(Objection).where(
        Objection.status == "open", Objection.due_at < (at or utcnow())).order_by(
        Objection.due_at)))


# -- complaints (个人信息保护投诉) -------------------------------------------------------------------
def file_complaint(session: Session, actor: User, text: str,
                   subject_id: int | None = None) -> Complaint:
    if not text.strip():
        raise Invalid(Message(_("请填写投诉内容")))
    if subject_id is not None:
        get_subject_for(session, actor, subject_id)
    now = utcnow()
    complaint = Complaint(raised_by_id=actor.id, subject_id=subject_id, text=text.strip()[:4000],
                          created_at=now, due_at=now + dt.timedelta(days=COMPLAINT_DAYS),
                          status="open")
    session.add(complaint)
    session.flush()
    audit(session, actor, "complaint.file", f"complaint {complaint.id}")
    return complaint


def answer_complaint(session: Session, actor: User, complaint_id: int, answer: str) -> Complaint:
    _require(actor, frozenset({Role.privacy_officer}))
    complaint = session.get(Complaint, complaint_id)
    if complaint is None:
        raise NotFound()
    if not answer.strip():
        raise Invalid(Message(_("答复不能为空")))
    complaint.answer, complaint.status = answer.strip()[:4000], "answered"
    complaint.answered_by_id, complaint.answered_at = actor.id, utcnow()
    audit(session, actor, "complaint.answer", f"complaint {complaint.id}")
    return complaint


def complaints_for(session: Session, actor: User) -> list[Complaint]:
    """The privacy officer sees every complaint; anyone else their own."""
    stmt = sa.select(Complaint).order_by(Complaint.status.desc(), Complaint.due_at)
    if Role(actor.role) != Role.privacy_officer:
        stmt = stmt.where(Complaint.raised_by_id == actor.id)
    return list(session.scalars(stmt.limit(500)))
