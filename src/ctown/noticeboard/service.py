"""The village notice board (信用公示栏, R-4.5): what a board publishes, who may be named on it,
building an edition (the A3 PDF, its digests, kept and on the ledger), and the households'
separate consent to publication (个人信息保护法 art. 25).

A board publishes the village's aggregates — grade distribution (五级十档), households, credit
files, graded share, credit-loan share, whole-village credit, completeness — and names only the
households that gave their own separate consent, masked (``张*华``), each with its grade and
nothing else: no ID, no score, no points. Every change of state writes an audit event in the same
transaction; services never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ctown.access.rules import household_id_of, today
from ctown.access.scope import get_for, is_own_household, require, scope
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.audit import audit
from ctown.db import utcnow
from ctown.errors import Invalid, NotFound
from ctown.i18n import Message, _
from ctown.ingest.models import CurrentValue
from ctown.masking import mask_name
from ctown.noticeboard.access import EDITIONS, HOUSEHOLDS, VILLAGES
from ctown.noticeboard.models import NoticeEdition, PublicationConsent
from ctown.registry.models import Region, Subject
from ctown.scoring.grades import GRADES, load_grade_table
from ctown.scoring.models import GradeRecord

#: The objection period printed on a board (异议期): days from the day it is published.
OBJECTION_DAYS = 7
#: What a farmer texts to the county's number to object (channels' SMS command).
SMS_KEYWORD = "反馈"
#: The farmer's phone page where an objection is raised (ctown.farmer).
OBJECT_PAGE = "/farmer/file"


def period_of(at: dt.datetime) -> str:
    """The board's period (公示期次): the month in China, "2026-12"."""
    return today(at).strftime("%Y-%m")


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(content: dict[str, Any]) -> bytes:
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


# -- places ------------------------------------------------------------------------------------------
def village(session: Session, village_code: str) -> Region:
    """A village by its code, for anyone (a board is public); "not found" for anything else."""
    region = session.get(Region, village_code) if len(village_code) <= 12 else None
    if region is None or region.level != "village":
        raise NotFound(Message(_("没有代码为 {code} 的村"), {"code": village_code}))
    return region


def village_to_build(session: Session, actor: User | None, village_code: str) -> Region:
    """A village whose board the actor builds: 403 for a role that never does, "not found" (the
    denial logged) outside the actor's place."""
    require(actor, "notice", "build")
    missing = NotFound(Message(_("没有代码为 {code} 的村"), {"code": village_code}))
    try:  # the same words for a village that exists elsewhere: existence does not leak
        region: Region = get_for(session, actor, VILLAGES, village_code, "build")
    except NotFound:
        raise missing from None
    if region.level != "village":
        raise missing
    return region


# -- who may be named ----------------------------------------------------------------------------------
def consenting(at: dt.datetime | None = None) -> sa.Select[int]:
    """Households whose consent to publication is in force (given at or before ``at``)."""
    return sa.select(PublicationConsent.subject_id).where(
        PublicationConsent.revoked_at.is_(None), PublicationConsent.granted_at <= (at or utcnow()))


def households_frame(session: Session, village_code: str, at: dt.datetime) -> pl.DataFrame:
    """The village's households: id, name, current grade, consent in force — one query."""
    grade = aliased(GradeRecord)
    rows = session.execute(
        sa.select(Subject.id, Subject.name, grade.grade,
                  Subject.id.in_(consenting(at)).label("consents"))
        .outerjoin(grade, sa.and_(grade.subject_id == Subject.id, grade.is_current.is_(True)))
        .where(Subject.kind == "household", Subject.region_code == village_code)
        .order_by(Subject.id)).all()
    frame = pl.DataFrame(rows, schema={"subject_id": pl.Int64, "name": pl.Utf8,
                                       "grade": pl.Utf8, "consents": pl.Boolean}, orient="row")
    return frame.unique("subject_id", keep="first", maintain_order=True)


def with_files(session: Session, village_code: str) -> int:
    """Households of the village with a credit file (a value of the household or a member)."""
    household = sa.func.coalesce(Subject.household_id, Subject.id)
    stmt = (sa.select(sa.func.count(sa.distinct(household)))
            .select_from(CurrentValue).join(Subject, Subject.id == CurrentValue.subject_id)
            .where(Subject.region_code == village_code))
    return int(session.scalar(stmt) or 0)


def named(frame: pl.DataFrame) -> pl.DataFrame:
    """Who the board names: consenting households with a grade, best grade first; the name
    masked here, so no clear name leaves this function."""
    rank = {g: i for i, g in enumerate(GRADES)}
    chosen = frame.filter(pl.col("consents") & pl.col("grade").is_not_null())
    return (chosen.with_columns(rank=pl.col("grade").replace_strict(rank, default=99),
                                name=pl.Series([mask_name(n) for n in chosen["name"].to_list()],
                                               dtype=pl.Utf8))
            .sort("rank", "subject_id").select("subject_id", "name", "grade"))


# -- the figures of the village --------------------------------------------------------------------
@dataclass(frozen=True)
class CountyFigures:
    """What a board takes from the county-wide figures, computed once for many villages."""

    credit_loan_share: dict[str, float | None]
    completeness: dict[str, float | None]

    @classmethod
    def compute(cls, session: Session, prefix: str = "") -> CountyFigures:
        from ctown.catalogue.service import load_catalogue
        from ctown.lending.figures import figures
        from ctown.quality.service import kpi_report

        lending = figures(session, None)
        report = kpi_report(session, load_catalogue(), prefix=prefix, months=1)
        return cls(credit_loan_share={v["code"]: v["credit_loan_share"]
                                      for v in lending["by_village"]},
                   completeness={v.code: v.completeness for v in report.villages})


def _grant(session: Session, village_code: str) -> dict[str, Any] | None:
    from ctown.lending.grants import grants_of_village

    latest = next(iter(grants_of_village(session, None, village_code)), None)
    if latest is None:
        return None
    return {"households": latest.households, "granted": latest.granted,
            "total_limit": str(latest.total_limit), "on": today(latest.granted_at).isoformat()}


def distribution(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Households per grade (all ten, in order) with their share of the graded, and the tier."""
    table = load_grade_table()
    counts = dict(frame.drop_nulls("grade").group_by("grade").len().iter_rows())
    graded = sum(counts.values())
    return [{"grade": g, "name": table.band(g).name_zh, "name_en": table.band(g).name_en,
             "households": int(counts.get(g, 0)),
             "share": round(counts.get(g, 0) / graded, 4) if graded else None} for g in GRADES]


def content(session: Session, region: Region, at: dt.datetime, county: CountyFigures,
            objection_days: int = OBJECTION_DAYS, sms_number: str | None = None
            ) -> tuple[dict[str, Any], list[int]]:
    """What an edition publishes (JSON), and the households it names (ids, kept apart)."""
    frame = households_frame(session, region.code, at)
    people = named(frame)
    graded = frame.filter(pl.col("grade").is_not_null()).height
    published = today(at)
    parent = session.get(Region, region.parent_code) if region.parent_code else None
    county_region = session.get(Region, parent.parent_code) if parent and parent.parent_code \
        else None
    body = {
        "village": {"code": region.code, "name": region.name, "name_en": region.name_en,
                    "township": parent.name if parent else "",
                    "county": county_region.name if county_region else ""},
        "period": period_of(at), "published_on": published.isoformat(),
        "objection_days": objection_days,
        "objection_until": (published + dt.timedelta(days=objection_days)).isoformat(),
        "grades": distribution(frame), "ungraded": frame.height - graded,
        "figures": {"households": frame.height, "files": with_files(session, region.code),
                    "graded": graded,
                    "graded_share": round(graded / frame.height, 4) if frame.height else None,
                    "credit_loan_share": county.credit_loan_share.get(region.code),
                    "completeness": county.completeness.get(region.code),
                    "grant": _grant(session, region.code)},
        "named": [{"name": n, "grade": g} for n, g in people.select("name", "grade").iter_rows()],
        "contact": {"sms_keyword": SMS_KEYWORD, "sms_number": sms_number, "page": OBJECT_PAGE},
    }
    return body, people["subject_id"].to_list()


# -- editions --------------------------------------------------------------------------------------
def build_edition(session: Session, actor: User | None, village_code: str, *,
                  at: dt.datetime | None = None, objection_days: int = OBJECTION_DAYS,
                  county: CountyFigures | None = None, sms_number: str | None = None
                  ) -> NoticeEdition:
    """Build, keep and audit a new edition of the village's board (on the ledger when the
    engine is kept). ``county``: the county-wide figures when many villages are built."""
    from ctown.noticeboard import pdf

    region = village_to_build(session, actor, village_code)
    if not 1 <= objection_days <= 60:
        raise Invalid(Message(_("异议期应为 1 至 60 天")))
    at = at or utcnow()
    county = county or CountyFigures.compute(session, region.code)
    body, named_ids = content(session, region, at, county, objection_days, sms_number)
    content_sha = digest(canonical(body))
    data = pdf.render(body, built_at=at, content_sha256=content_sha)
    edition = NoticeEdition(
        village_code=region.code, period=body["period"], built_at=at,
        built_by_id=actor.id if actor else None,
        objection_until=dt.date.fromisoformat(body["objection_until"]),
        households=body["figures"]["households"], named=len(named_ids),
        content_sha256=content_sha, pdf_sha256=digest(data), pdf_bytes=len(data),
        content=body, named_ids=named_ids, pdf=data)
    session.add(edition)
    session.flush()
    audit(session, actor, "notice.build", f"notice edition {edition.id}", village=region.code,
          period=edition.period, named=edition.named, pdf_sha256=edition.pdf_sha256)
    return edition


def editions_for(session: Session, actor: User | None, village_code: str, limit: int = 50
                 ) -> list[NoticeEdition]:
    """The kept editions of a village the actor reaches, newest first (officers of the place)."""
    require(actor, "notice_edition", "view")
    stmt = scope(sa.select(NoticeEdition).where(NoticeEdition.village_code == village_code),
                 actor, EDITIONS)
    return list(session.scalars(stmt.order_by(NoticeEdition.id.desc()).limit(limit)))


def edition_for(session: Session, actor: User | None, edition_id: int) -> NoticeEdition:
    """A kept edition (its PDF), else "not found" (the denial logged)."""
    edition: NoticeEdition = get_for(session, actor, EDITIONS, edition_id)
    return edition


def latest_edition(session: Session, village_code: str) -> NoticeEdition | None:
    return session.scalar(sa.select(NoticeEdition).where(NoticeEdition.village_code == village_code)
                          .order_by(NoticeEdition.id.desc()).limit(1))


def withdrawn(session: Session, edition: NoticeEdition) -> set[int]:
    """Households the edition names whose consent is no longer in force."""
    ids = list(edition.named_ids or [])
    if not ids:
        return set()
    still = set(session.scalars(consenting().where(PublicationConsent.subject_id.in_(ids))))
    return set(ids) - still


@dataclass(frozen=True)
class PublicBoard:
    """A village's board as anyone reads it: the latest edition's aggregates, the names still
    consenting, and whether its PDF may be handed out (not once someone it names withdrew)."""

    village: Region
    edition: NoticeEdition | None
    named: list[dict[str, str]]
    pdf_available: bool


def public_board(session: Session, village_code: str) -> PublicBoard:
    """The public board of a village (no actor: a public notice)."""
    region = village(session, village_code)
    edition = latest_edition(session, region.code)
    if edition is None:
        return PublicBoard(region, None, [], False)
    gone = withdrawn(session, edition)
    names = [entry for sid, entry in zip(edition.named_ids, edition.content["named"], strict=True)
             if sid not in gone]
    return PublicBoard(region, edition, names, not gone)


def all_villages(session: Session) -> list[str]:
    return list(session.scalars(sa.select(Region.code).where(Region.level == "village")
                                .order_by(Region.code)))


def villages_due(session: Session, at: dt.datetime | None = None,
                 codes: Sequence[str] | None = None) -> list[str]:
    """Villages whose board needs a new edition: none yet this period, or the latest names a
    household that withdrew its consent (the scheduled rebuild). Three queries, however many
    villages."""
    period = period_of(at or utcnow())
    stmt = sa.select(Region.code).where(Region.level == "village").order_by(Region.code)
    if codes is not None:
        stmt = stmt.where(Region.code.in_(list(codes)))
    villages = list(session.scalars(stmt))
    newest = (sa.select(sa.func.max(NoticeEdition.id)).group_by(NoticeEdition.village_code)
              .scalar_subquery())
    latest = {code: (p, ids or []) for code, p, ids in session.execute(
        sa.select(NoticeEdition.village_code, NoticeEdition.period, NoticeEdition.named_ids)
        .where(NoticeEdition.id.in_(newest)))}
    still = set(session.scalars(consenting()))
    return [code for code in villages if code not in latest or latest[code][0] != period
            or not set(latest[code][1]) <= still]


# -- the consent to publication (公示授权) ---------------------------------------------------------------
def _household(session: Session, actor: User | None, subject_id: int | None, purpose: str
               ) -> Subject:
    """The household the consent is about: the actor's own by default; "not found" (the denial
    logged) for one the actor does not reach for ``purpose``."""
    require(actor, "publication", purpose)
    chosen = subject_id if subject_id is not None else (actor.subject_id if actor else None)
    if chosen is None:
        raise NotFound()
    subject: Subject = get_for(session, actor, HOUSEHOLDS, chosen, purpose)
    household = session.get(Subject, household_id_of(subject))
    if household is None or household.kind != "household":
        raise NotFound()
    return household


def active_consent(session: Session, household_id: int) -> PublicationConsent | None:
    return session.scalar(sa.select(PublicationConsent).where(
        PublicationConsent.subject_id == household_id, PublicationConsent.revoked_at.is_(None))
        .order_by(PublicationConsent.id.desc()).limit(1))


def give_consent(session: Session, actor: User | None, subject_id: int | None = None, *,
                 form_no: str | None = None) -> PublicationConsent:
    """The household agrees to be named on its village's board (masked, with its grade only).
    A village officer records it only with the number of the signed paper form."""
    household = _household(session, actor, subject_id, "give")
    form = (form_no or "").strip()[:40] or None
    if actor is not None and actor.role == Role.village_officer and not is_own_household(
            actor, household) and form is None:
        raise Invalid(Message(_("请填写农户签字的公示授权书编号")))
    existing = active_consent(session, household.id)
    if existing is not None:
        return existing
    consent = PublicationConsent(subject_id=household.id, granted_by_id=actor.id if actor else None,
                                 granted_at=utcnow(), form_no=form)
    session.add(consent)
    session.flush()
    audit(session, actor, "publication_consent.grant", f"publication consent {consent.id}",
          subject_id=household.id, form_no=form)
    return consent


def withdraw_consent(session: Session, actor: User | None, subject_id: int | None = None
                     ) -> PublicationConsent | None:
    """Withdraw the consent (撤回公示授权): the next edition no longer names the household, and the
    public page stops at once (the latest edition's PDF is withheld until the next)."""
    household = _household(session, actor, subject_id, "give")
    consent = active_consent(session, household.id)
    if consent is None:
        return None
    consent.revoked_at, consent.revoked_by_id = utcnow(), actor.id if actor else None
    audit(session, actor, "publication_consent.revoke", f"publication consent {consent.id}",
          subject_id=household.id)
    return consent


@dataclass(frozen=True)
class ConsentPage:
    """The household's consent to publication as the actor sees it: in force or not, history."""

    household: Subject
    active: PublicationConsent | None
    history: list[PublicationConsent]
    may_give: bool


def consent_page(session: Session, actor: User, subject_id: int | None = None) -> ConsentPage:
    household = _household(session, actor, subject_id, "view")
    history = list(session.scalars(sa.select(PublicationConsent).where(
        PublicationConsent.subject_id == household.id).order_by(PublicationConsent.id.desc())))
    active = next((c for c in history if c.revoked_at is None), None)
    from ctown.access.scope import reaches_row

    return ConsentPage(household, active, history,
                       reaches_row(session, actor, HOUSEHOLDS, household.id, "give"))


def villages_for(session: Session, actor: User) -> list[Region]:
    """The villages whose boards the actor builds (403 for a role that builds none)."""
    require(actor, "notice", "build")
    stmt = scope(sa.select(Region).where(Region.level == "village"), actor, VILLAGES, "build")
    return list(session.scalars(stmt.order_by(Region.code).limit(2000)))


def may_build(session: Session, actor: User | None, village_code: str) -> bool:
    """Does the actor build this village's board (the rebuild button)? No logging."""
    from ctown.access.scope import allowed, reaches_row

    return actor is not None and allowed(actor, "notice", "build") and reaches_row(
        session, actor, VILLAGES, village_code, "build")
