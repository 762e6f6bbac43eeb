"""Read side of the registry for pages and the API: scoped lists, search, masked details."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown import masking
from ctown.access.looks import record_look
from ctown.access.policy import Reach, reaches
from ctown.access.scope import get_subject_for, is_own_household, region_prefix, scope_subjects
from ctown.accounts.models import User
from ctown.crypto import FieldCipher
from ctown.db import page_offset
from ctown.masking import Identity, mask_name, mask_phone, mask_resident_id
from ctown.registry.identifiers import IdentifierError, normalise, parse_resident_id
from ctown.registry.models import Subject
from ctown.registry.schemas import MemberOut, SubjectOut, SubjectPage
from ctown.registry.service import RegionNode, phone_of, region_tree, resident_id_of

PER_PAGE = 50
#: The purpose of the query-log entry of a register entry opened by others (the farmer's page).
LOOK_PURPOSE = "register"


@dataclass(frozen=True)
class SubjectFilter:
    kind: str = "household"
    q: str = ""
    region: str = ""
    page: int = 1


def _search(stmt: sa.Select[Subject], cipher: FieldCipher, q: str) -> sa.Select[Subject]:
    q = q.strip()
    if not q:
        return stmt
    try:  # a full resident ID finds the household through the blind index, never by scanning
        rid = parse_resident_id(q).value
        idx = cipher.blind_index(rid)
        return stmt.where(Subject.id.in_(
            sa.select(sa.func.coalesce(Subject.household_id, Subject.id))
            .where(Subject.id_index == idx)))
    except IdentifierError:
        pass
    text = normalise(q) if q.isascii() else q
    return stmt.where(sa.or_(Subject.name.contains(q, autoescape=True),
                             Subject.household_no == text, Subject.credit_code == text))


def list_subjects(session: Session, actor: User, cipher: FieldCipher, f: SubjectFilter
                  ) -> SubjectPage:
    stmt = scope_subjects(sa.select(Subject).where(Subject.kind == f.kind), actor)
    if f.region:
        stmt = stmt.where(Subject.region_code.startswith(f.region, autoescape=True))
    stmt = _search(stmt, cipher, f.q)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery())) or 0
    page = max(1, f.page)
    rows = session.scalars(stmt.order_by(Subject.region_code, Subject.id)
                           .limit(PER_PAGE).offset(page_offset(page, PER_PAGE))).all()
    items = [subject_out(s, cipher, visibility(actor, s), with_members=False) for s in rows]
    return SubjectPage(total=total, page=page, per_page=PER_PAGE, items=items)


def subject_detail(session: Session, actor: User, cipher: FieldCipher, subject_id: int
                   ) -> SubjectOut:
    """A register entry with its members (the household page, the API's detail): a look on the
    household's query log when the reader is not the household or its proxy (once per request:
    the lists and the home page's own household are not looks)."""
    subject = get_subject_for(session, actor, subject_id)
    record_look(session, actor, subject, LOOK_PURPOSE)
    return subject_out(subject, cipher, visibility(actor, subject), with_members=True)


def visibility(actor: User, subject: Subject) -> Identity:
    """Names and identifiers in clear or masked: the masking table's rule
    (:func:`ctown.masking.identity`), the household's own data in clear."""
    return masking.identity(actor.role, own=is_own_household(actor, subject))


def regions_for(session: Session, actor: User) -> list[RegionNode]:
    """The region tree with household counts below the actor's region, for those who reach the
    register by region (officers, the county's oversight); nothing for those who reach
    households one by one (a farmer, a proxy, a bank's clients)."""
    if Reach.region not in reaches("subject", "view", actor.role):
        return []
    return region_tree(session, region_prefix(actor))


def home_for(session: Session, actor: User) -> tuple[list[RegionNode], Subject | None]:
    """The home page: the region tree, and the actor's own household (a farmer)."""
    own = get_subject_for(session, actor, actor.subject_id) if actor.subject_id else None
    return regions_for(session, actor), own


def subject_out(s: Subject, cipher: FieldCipher, vis: Identity, with_members: bool
                ) -> SubjectOut:
    members = [member_out(m, cipher, vis) for m in s.members] if with_members else []
    name = s.name if vis.names or s.kind in ("entity", "collective") else mask_name(s.name)
    return SubjectOut(id=s.id, kind=s.kind, name=name,
                      region_code=s.region_code, region_name=s.region.name,
                      household_no=s.household_no, entity_type=s.entity_type,
                      credit_code=s.credit_code, members=members)


def member_out(m: Subject, cipher: FieldCipher, vis: Identity) -> MemberOut:
    rid, phone = resident_id_of(cipher, m), phone_of(cipher, m)
    return MemberOut(id=m.id, name=m.name if vis.names else mask_name(m.name),
                     relation=m.relation, gender=m.gender,
                     birth_date=m.birth_date if vis.names else None,
                     resident_id=rid if vis.identifiers else mask_resident_id(rid),
                     phone=phone if vis.identifiers else mask_phone(phone))
