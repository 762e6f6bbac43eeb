"""Whole-village credit granting (整村授信): a bank gives every eligible household of a village a
pre-approved credit line in one batch, after a preview of who gets what and why.

The officers of the place see the whole preview: each household by name and why it is left out.
A bank previews its own products only and sees the offer, not the people (a loan officer needs no
more to grant): masked names, household numbers, grades and limits, "not eligible" without the
reason (the punishment list is not a bank's to read without consent); the counts per reason stay,
since they name no one. Every household listed to a bank goes on its query log (条例 art. 22).

Batch work over whole columns: three bulk queries (households with their heads' birth dates,
current grades, the punishment list), one Polars frame joined with the product's grade table,
and one bulk insert — a village of 2,000 households takes well under a second.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased

from ctown.access import looks, rules
from ctown.access.policy import Reach, reaches
from ctown.access.scope import allowed, get_for, log_denied, reaches_values, require, scope
from ctown.accounts.models import User
from ctown.db import utcnow
from ctown.errors import Forbidden, Invalid, NotFound
from ctown.i18n import Message, _
from ctown.lending import credit_file, notices, workdays
from ctown.lending.access import CREDIT_LINES, GRANT_VILLAGES, GRANTS
from ctown.lending.models import CreditLine, LineStatus, VillageGrant
from ctown.lending.products import Product
from ctown.lending.service import product_or_404
from ctown.masking import mask_name
from ctown.registry.models import Region, Subject
from ctown.scoring.service import current_grades

#: Reason codes of the preview, with their words.
REASONS = {
    "ok": _("符合条件，授予预授信额度"),
    "no_grade": _("尚无信用等级"),
    "grade": _("信用等级不在准入范围"),
    "punished": _("列入失信联合惩戒名单"),
    "age": _("户主年龄不在准入范围"),
    # What a bank reads instead of the four reasons above (:func:`as_offer`).
    "not_eligible": _("不符合准入条件"),
}
#: The columns of a bank's preview: the offer to each household, nothing else about it.
OFFER_COLUMNS = ("subject_id", "household_no", "name", "grade", "eligible", "reason", "limit",
                 "rate")
#: The purpose of the query-log entry of a household listed to a bank (the farmer's page).
LOOK_PURPOSE = "village_grant"


@dataclass(frozen=True)
class Preview:
    village: Region
    product: Product
    rows: pl.DataFrame  # subject_id, household_no, name, age, grade, eligible, reason, limit, rate
    #: Households per reason code, counted before a bank's rows are cut to the offer.
    by_reason: dict[str, int]

    @property
    def eligible(self) -> pl.DataFrame:
        return self.rows.filter(pl.col("eligible"))

    def summary(self) -> dict[str, object]:
        elig = self.eligible
        return {"households": self.rows.height, "eligible": elig.height,
                "total_limit": str(sum(elig["limit"].to_list(), Decimal("0.00"))),
                "by_reason": dict(self.by_reason)}


def _village_for(session: Session, actor: User | None, village_code: str, product: Product,
                 purpose: str) -> Region:
    """The village of a grant of ``product`` to be made, for ``purpose`` ("preview" or
    "grant"): refused (403) to a role that never does this; "not found" (the denial logged)
    outside the actor's reach — another place, or another bank's product."""
    require(actor, "grant_village", purpose)
    village: Region = get_for(session, actor, GRANT_VILLAGES, village_code, purpose)
    if village.level != "village":
        raise NotFound()
    if not offers(actor, product, purpose):
        log_denied(session, actor, f"village {village_code}: {purpose} {product.code}")
        raise NotFound()
    return village


def offers(actor: User | None, product: Product, purpose: str = "preview") -> bool:
    """Does the actor reach this product for a grant (the table's "grant_product"): any product
    (the officers of the place), or only a product of the actor's own bank?"""
    return reaches_values(actor, "grant_product", purpose, bank=product.bank_code)


def may_grant(actor: User | None, product: Product) -> bool:
    """Does the actor grant this product (a bank officer, for the products of their own bank)?"""
    return allowed(actor, "grant_village", "grant") and offers(actor, product, "grant")


def sees_people(actor: User | None) -> bool:
    """Does the actor see the village's people in a preview (names, why each is left out)? Those
    who reach the village by its region, its officers; a bank, reaching any village, sees the
    offer (:func:`as_offer`)."""
    return actor is None or Reach.region in reaches("grant_village", "preview", actor.role)


def as_offer(view: Preview) -> Preview:
    """The preview as a bank sees it: masked names, "not eligible" for every reason of refusal,
    no age or punishment flag; the counts per reason stay."""
    rows = view.rows.with_columns(
        name=pl.Series([mask_name(n) for n in view.rows["name"].to_list()], dtype=pl.Utf8),
        reason=pl.when(pl.col("eligible")).then(pl.col("reason"))
        .otherwise(pl.lit("not_eligible"))).select(OFFER_COLUMNS)
    return Preview(view.village, view.product, rows, view.by_reason)


def _households(session: Session, village_code: str, today: dt.date) -> pl.DataFrame:
    head = aliased(Subject)
    stmt = (sa.select(Subject.id, Subject.household_no, Subject.name, head.birth_date)
            .outerjoin(head, sa.and_(head.household_id == Subject.id,
                                     head.relation.in_(rules.HEAD_RELATIONS)))
            .where(Subject.kind == "household", Subject.region_code == village_code)
            .order_by(Subject.id))
    rows = session.execute(stmt).all()
    frame = pl.DataFrame(rows, schema={"subject_id": pl.Int64, "household_no": pl.Utf8,
                                       "name": pl.Utf8, "birth_date": pl.Date}, orient="row")
    frame = frame.unique("subject_id", keep="first", maintain_order=True)
    years = today.year - pl.col("birth_date").dt.year()
    before_birthday = (pl.col("birth_date").dt.month() * 100 + pl.col("birth_date").dt.day()
                       ) > today.month * 100 + today.day
    return frame.with_columns(age=(years - before_birthday.cast(pl.Int32)).cast(pl.Int32))


def preview(session: Session, actor: User | None, village_code: str, product_code: str,
            today: dt.date | None = None) -> Preview:
    """Who of the village would get what, and why (an officer of the place); the offer to each
    household (a bank, for a product of its own), every household listed logged."""
    product = _village_product(product_code)
    village = _village_for(session, actor, village_code, product, "preview")
    view = _preview(session, village, product, today or workdays.local_date(utcnow()))
    if actor is None or sees_people(actor):
        return view
    # Each household listed to a bank goes on its query log.
    looks.record_looks(session, actor, view.rows["subject_id"].to_list(), LOOK_PURPOSE)
    return as_offer(view)


def _village_product(product_code: str) -> Product:
    product = product_or_404(product_code)
    if "household" not in product.eligibility.subject_kinds:
        raise Invalid(Message(_("该产品不面向农户，不能整村授信")))
    return product


def _preview(session: Session, village: Region, product: Product, today: dt.date) -> Preview:
    village_code = village.code
    frame = _households(session, village_code, today)
    ids = frame["subject_id"].to_list()
    grades = current_grades(session, ids)
    punished = credit_file.punished(session, ids) if product.eligibility.exclude_punished \
        else set()
    frame = frame.with_columns(
        grade=pl.Series([grades[i].grade if i in grades else None for i in ids], dtype=pl.Utf8),
        punished=pl.Series([i in punished for i in ids], dtype=pl.Boolean))
    terms = pl.DataFrame({"grade": list(product.grades),
                          "limit": [t.limit_household for t in product.grades.values()],
                          "rate": [product.rate_for(t) for t in product.grades.values()]},
                         schema={"grade": pl.Utf8, "limit": pl.Decimal(14, 2),
                                 "rate": pl.Decimal(6, 2)})
    criteria = product.eligibility
    frame = frame.join(terms, on="grade", how="left").with_columns(
        reason=pl.when(pl.col("grade").is_null()).then(pl.lit("no_grade"))
        .when(pl.col("punished")).then(pl.lit("punished"))
        .when(pl.col("age").is_not_null() & ~pl.col("age").is_between(criteria.age_min,
                                                                       criteria.age_max))
        .then(pl.lit("age"))
        .when(pl.col("limit").is_null()).then(pl.lit("grade"))
        .otherwise(pl.lit("ok")))
    frame = frame.with_columns(eligible=pl.col("reason") == "ok").drop("birth_date")
    by_reason = dict(frame.group_by("reason").len().sort("reason").iter_rows())
    return Preview(village, product, frame, by_reason)


def grant(session: Session, actor: User | None, village_code: str, product_code: str,
          months_valid: int = 12, today: dt.date | None = None) -> VillageGrant:
    """Grant the previewed lines in one batch (bank officer of the product's bank)."""
    product = _village_product(product_code)
    if not may_grant(actor, product):
        raise Forbidden(Message(_("只有该产品所属银行的客户经理可以整村授信")))
    village = _village_for(session, actor, village_code, product, "grant")
    today = today or workdays.local_date(utcnow())
    view = _preview(session, village, product, today)
    elig = view.eligible
    valid_until = dt.date(today.year + (today.month - 1 + months_valid) // 12,
                          (today.month - 1 + months_valid) % 12 + 1, 1)
    batch = VillageGrant(village_code=village_code, product_code=product.code,
                         bank_code=product.bank_code,
                         granted_by=actor.id if actor is not None else None,
                         valid_until=valid_until, households=view.rows.height,
                         granted=elig.height,
                         total_limit=sum(elig["limit"].to_list(), Decimal("0.00")))
    session.add(batch)
    session.flush()
    # A new grant replaces the village's earlier lines of the same product.
    session.execute(sa.update(CreditLine).where(
        CreditLine.product_code == product.code, CreditLine.status == LineStatus.active,
        CreditLine.subject_id.in_(sa.select(Subject.id).where(
            Subject.region_code == village_code))).values(status=LineStatus.superseded))
    rows = [{"grant_id": batch.id, "subject_id": sid, "product_code": product.code,
             "grade": grade, "amount": limit, "rate_pct": rate, "valid_until": valid_until,
             "status": LineStatus.active}
            for sid, grade, limit, rate in elig.select("subject_id", "grade", "limit", "rate")
            .iter_rows()]
    if rows:
        session.execute(sa.insert(CreditLine), rows)
    notices.queue(session, user_id=actor.id if actor is not None else None, msgid=_(
        "{village} 整村授信完成：{granted}/{households} 户获得预授信，合计 {total} 元"),
        params={"village": view.village.name, "granted": batch.granted,
                "households": batch.households, "total": batch.total_limit})
    return batch


def get_grant_for(session: Session, actor: User | None, grant_id: int) -> VillageGrant:
    """A grant made: its village's officers and the granting bank; "not found" (the denial
    logged) for anyone else."""
    batch: VillageGrant = get_for(session, actor, GRANTS, grant_id)
    return batch


def lines_of(session: Session, grant_id: int, actor: User | None = None
             ) -> list[tuple[CreditLine, str]]:
    """The lines of a grant with the households' names (as far as the actor reaches them)."""
    stmt = (sa.select(CreditLine, Subject.name).join(Subject, Subject.id == CreditLine.subject_id)
            .where(CreditLine.grant_id == grant_id).order_by(Subject.household_no))
    return [(line, name) for line, name in session.execute(scope(stmt, actor, CREDIT_LINES)).all()]


def grants_of_village(session: Session, actor: User | None, village_code: str
                      ) -> list[VillageGrant]:
    """The grants of a village the actor reaches (a bank: its own), newest first."""
    stmt = scope(sa.select(VillageGrant).where(VillageGrant.village_code == village_code),
                 actor, GRANTS)
    return list(session.scalars(stmt.order_by(VillageGrant.id.desc())))
