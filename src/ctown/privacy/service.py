"""Consent and the farmer's rights (征信业管理条例, 个人信息保护法): authorisations to banks, the
credit report only under one, the query log, objections, complaints, and the audit trail.

Every change of state takes the acting user and writes an :class:`AuditEvent` in the same
transaction (the audit trail goes on the ledger). Services never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
import yaml
from sqlalchemy.orm import Session

from ctown import configdir
from ctown.access.rules import CHINA, active_consent, household_id_of, household_members
from ctown.access.scope import get_for, get_subject_for, require, scope
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.audit import audit
from ctown.db import utcnow
from ctown.errors import Invalid
from ctown.i18n import Message, _
from ctown.privacy.access import AUDIT_TRAIL, COMPLAINTS, CONSENTS, OBJECTIONS, QUERIES
from ctown.privacy.models import AuditEvent, Complaint, Consent, CreditQuery, Objection
from ctown.registry.models import Region, Subject

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
#: The subject's purposes (:mod:`ctown.access.policy`) of giving or revoking a consent: to a bank
#: the household, its proxy (a mandate of scope "consent") or the village officer entering a
#: signed paper form ("consent_for"); the collection consent (信息采集授权书) also the township
#: and county offices ("collect_consent").
GIVE_TO_BANK, GIVE_FOR_COLLECTION = "consent_for", "collect_consent"


# -- audit trail ---------------------------------------------------------------------------------
def audit_events(session: Session, actor: User | None, *, action: str | None = None,
                 limit: int = 200) -> list[AuditEvent]:
    """The audit trail (审计日志), newest first: for the county, the assessor and the privacy
    officer (403 for anyone else)."""
    require(actor, "audit", "view")
    stmt = scope(sa.select(AuditEvent), actor, AUDIT_TRAIL)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    return list(session.scalars(stmt.order_by(AuditEvent.id.desc()).limit(limit)))


# -- consent -------------------------------------------------------------------------------------
def grant_consent(session: Session, actor: User, *, subject_id: int, bank_code: str,
                  purpose: str, scope: str = "query", days: int = 90) -> Consent:
    """Record an authorisation of ``bank_code`` for ``purpose`` during ``days`` (revocable)."""
    require(actor, "subject", GIVE_TO_BANK)
    subject = get_subject_for(session, actor, subject_id, GIVE_TO_BANK)
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
    # ``actor=None``: a county batch job (``ctown consent import``) acting for the county.
    require(actor, "subject", GIVE_FOR_COLLECTION)
    subject = get_subject_for(session, actor, subject_id, GIVE_FOR_COLLECTION)
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


def get_consent_for(session: Session, actor: User | None, consent_id: int) -> Consent:
    """A consent the actor may see, else "not found" (the denial logged)."""
    consent: Consent = get_for(session, actor, CONSENTS, consent_id)
    return consent


def revoke_consent(session: Session, actor: User | None, consent_id: int) -> Consent:
    """Withdraw a consent (撤回授权): who may give it may take it back."""
    consent = get_consent_for(session, actor, consent_id)
    purpose = GIVE_FOR_COLLECTION if consent.scope == COLLECT else GIVE_TO_BANK
    require(actor, "subject", purpose)
    get_subject_for(session, actor, consent.subject_id, purpose)
    if consent.revoked_at is None:
        consent.revoked_at, consent.revoked_by_id = utcnow(), actor.id if actor else None
        audit(session, actor, "consent.revoke", f"consent {consent.id}",
              subject_id=consent.subject_id, bank=consent.bank_code)
    return consent


def consents_for(session: Session, actor: User | None, subject_id: int) -> list[Consent]:
    """The consents of a subject's household the actor may see (a bank: its own)."""
    subject = get_subject_for(session, actor, subject_id)
    stmt = sa.select(Consent).where(Consent.subject_id == household_id_of(subject))
    return list(session.scalars(scope(stmt, actor, CONSENTS).order_by(Consent.id.desc())))


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
    require(actor, "subject", "request_report")
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


@dataclass(frozen=True)
class LoggedQuery:
    """One entry of a household's query log as the farmer reads it: the entry as stored (what
    the ledger commits to: the institution's code) and who that was, in words — an office by its
    region's name and the person's role (an office stores its region code), a bank by its name
    (its code when the platform knows no name for it)."""

    id: int
    at: dt.datetime
    subject_id: int
    actor_id: int | None
    actor_name: str
    institution: str
    purpose: str
    outcome: str
    consent_id: int | None
    institution_name: str
    institution_name_en: str | None = None
    #: The role of the person of an office (shown after the region's name); None for a bank.
    role: Role | None = None


def institution_names(directory: Path | None = None) -> dict[str, str]:
    """Bank and insurer codes → names, as the product files give them (``bank_name``,
    ``insurance.insurer_name``), read as data — lending sits above privacy and is not imported.
    By default the product files in effect (:mod:`ctown.configdir`, as lending reads them),
    cached by their stamps. A file that does not parse names nobody here: lending reports it,
    with its line, when it loads the products."""
    if directory is not None:
        paths = tuple(sorted(directory.glob("*.yaml")))
        return _names(configdir.stamp(paths), paths)
    paths = tuple(configdir.files("products").values())
    return _names(configdir.stamp(paths), paths)


@lru_cache(maxsize=4)
def _names(_key: configdir.Stamp, paths: tuple[Path, ...]
           ) -> dict[str, str]:
    names: dict[str, str] = {}
    for path in paths:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict):
            continue
        insurance = doc.get("insurance")
        pairs = [(doc.get("bank_code"), doc.get("bank_name"))]
        if isinstance(insurance, dict):
            pairs.append((insurance.get("insurer_code"), insurance.get("insurer_name")))
        for code, name in pairs:
            if code and name:
                names.setdefault(str(code), str(name))
    return names


def _in_words(session: Session, entries: Sequence[CreditQuery]) -> list[LoggedQuery]:
    """The entries with their institutions named: two queries for the whole log (the regions
    named, the roles of the officers who looked), whatever its length."""
    codes = {q.institution for q in entries if q.institution}
    regions = {code: (name, name_en) for code, name, name_en in session.execute(
        sa.select(Region.code, Region.name, Region.name_en).where(Region.code.in_(codes)))
    } if codes else {}
    officers = {q.actor_id for q in entries if q.actor_id is not None and q.institution in regions}
    roles = dict(session.execute(sa.select(User.id, User.role).where(User.id.in_(officers))).all()
                 ) if officers else {}
    banks = institution_names()
    out = []
    for q in entries:
        region = regions.get(q.institution)
        role = roles.get(q.actor_id) if region is not None and q.actor_id is not None else None
        out.append(LoggedQuery(
            id=q.id, at=q.at, subject_id=q.subject_id, actor_id=q.actor_id,
            actor_name=q.actor_name, institution=q.institution, purpose=q.purpose,
            outcome=q.outcome, consent_id=q.consent_id,
            institution_name=region[0] if region else banks.get(q.institution, q.institution),
            institution_name_en=region[1] if region else None,
            role=Role(role) if role else None))
    return out


def queries_for(session: Session, actor: User, subject_id: int | None = None
                ) -> list[LoggedQuery]:
    """The query log of a subject's household — for the farmer, their own household — with
    each institution named. Banks see none: one bank does not learn which others asked."""
    if subject_id is None:
        if actor.subject_id is None:
            return []
        subject_id = actor.subject_id
    subject = get_subject_for(session, actor, subject_id)
    members = household_members([household_id_of(subject)])
    stmt = sa.select(CreditQuery).where(CreditQuery.subject_id.in_(members))
    return _in_words(session, list(session.scalars(scope(stmt, actor, QUERIES)
                                                   .order_by(CreditQuery.id.desc()).limit(500))))


@dataclass
class HouseholdPage:
    """The household's own privacy page: its consents, who looked, what the actor raised."""

    subject_id: int | None
    consents: list[Consent]
    queries: list[LoggedQuery]
    objections: list[Objection]
    complaints: list[Complaint]


def household_page(session: Session, actor: User, subject_id: int | None = None
                   ) -> HouseholdPage:
    """The page of ``subject_id`` (default: the actor's own household) as the actor sees it."""
    subject_id = subject_id or actor.subject_id
    consents = consents_for(session, actor, subject_id) if subject_id else []
    queries = queries_for(session, actor, subject_id) if subject_id else []
    return HouseholdPage(subject_id, consents, queries,
                         objections_for(session, actor, mine=True),
                         complaints_for(session, actor))


# -- objections (异议) -----------------------------------------------------------------------------
def raise_objection(session: Session, actor: User, *, subject_id: int,
                    indicator_code: str | None, reason: str) -> Objection:
    """The household (or its proxy, or an officer for it) disputes a record (条例 art. 25)."""
    require(actor, "subject", "object")
    subject = get_subject_for(session, actor, subject_id, "object")
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


def get_objection_for(session: Session, actor: User | None, objection_id: int,
                      purpose: str = "view") -> Objection:
    """An objection the actor may see (or answer), else "not found" (the denial logged)."""
    objection: Objection = get_for(session, actor, OBJECTIONS, objection_id, purpose)
    return objection


def answer_objection(session: Session, actor: User, objection_id: int, answer: str) -> Objection:
    require(actor, "objection", "answer")
    objection = get_objection_for(session, actor, objection_id, "answer")
    if not answer.strip():
        raise Invalid(Message(_("书面答复不能为空")))
    objection.answer, objection.status = answer.strip()[:4000], "answered"
    objection.answered_by_id, objection.answered_at = actor.id, utcnow()
    audit(session, actor, "objection.answer", f"objection {objection.id}",
          subject_id=objection.subject_id, late=objection.answered_at > objection.due_at)
    return objection


def objections_for(session: Session, actor: User, *, open_only: bool = False,
                   mine: bool = False, purpose: str = "view") -> list[Objection]:
    """Objections the actor reaches for ``purpose``; ``mine``: only those the actor raised."""
    stmt = scope(sa.select(Objection), actor, OBJECTIONS, purpose).order_by(Objection.due_at)
    if open_only:
        stmt = stmt.where(Objection.status == "open")
    if mine:
        stmt = stmt.where(Objection.raised_by_id == actor.id)
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


def get_complaint_for(session: Session, actor: User | None, complaint_id: int,
                      purpose: str = "view") -> Complaint:
    """A complaint the actor may see (their own; the privacy officer any), else "not found"."""
    complaint: Complaint = get_for(session, actor, COMPLAINTS, complaint_id, purpose)
    return complaint


def answer_complaint(session: Session, actor: User, complaint_id: int, answer: str) -> Complaint:
    require(actor, "complaint", "answer")
    complaint = get_complaint_for(session, actor, complaint_id, "answer")
    if not answer.strip():
        raise Invalid(Message(_("答复不能为空")))
    complaint.answer, complaint.status = answer.strip()[:4000], "answered"
    complaint.answered_by_id, complaint.answered_at = actor.id, utcnow()
    audit(session, actor, "complaint.answer", f"complaint {complaint.id}")
    return complaint


def complaints_for(session: Session, actor: User, purpose: str = "view") -> list[Complaint]:
    """The privacy officer sees every complaint; anyone else their own (``purpose="answer"``:
    those the actor answers — the privacy officer's, nobody else's)."""
    stmt = scope(sa.select(Complaint), actor, COMPLAINTS, purpose)
    return list(session.scalars(stmt.order_by(Complaint.status.desc(), Complaint.due_at)
                                .limit(500)))


# -- the officer's desk ------------------------------------------------------------------------------
@dataclass
class Desk:
    """Objections and complaints the officer answers, and which of them are overdue."""

    objections: list[Objection]
    complaints: list[Complaint]
    overdue: set[int]


def officer_desk(session: Session, actor: User) -> Desk:
    """The desk of those who answer objections (403 for anyone else)."""
    require(actor, "objection", "answer")
    objections = objections_for(session, actor, purpose="answer")
    late = {o.id for o in overdue_objections(session)}
    return Desk(objections, complaints_for(session, actor, "answer"),
                {o.id for o in objections if o.id in late})
