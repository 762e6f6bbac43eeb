"""The farmer's summary (农户信用概要): the one answer to "how do I stand?" that the home page,
the SMS channel and the voice channel all give — grade in plain words, what it brings, the two or
three reasons that matter most, one way to improve, and the next instalment.

Every read goes through the access layer: the subject as reached for its grade (a look by anyone
outside the household goes on its query log), credit lines and loans scoped as their resources
say. ``actor=None`` is the county's own job (the SMS or voice channel answering the phone on file).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.access.scope import Actor, scope
from ctown.farmer.words import day, rate, yuan
from ctown.i18n import _, normalise_locale, translate
from ctown.lending.access import CREDIT_LINES, LOANS
from ctown.lending.models import CreditLine, Instalment, LineStatus, Loan, LoanStatus
from ctown.lending.products import Product, load_products
from ctown.masking import mask_name
from ctown.registry.models import Subject
from ctown.scoring.grades import load_grade_table
from ctown.scoring.service import current_grade, subject_for_grade

#: How many reasons the summary gives (R-6.1: "the two or three that matter most").
TOP_REASONS = 3
#: How many product lines of "what the grade brings" (an SMS has room for few).
TOP_BENEFITS = 3


@dataclass(frozen=True)
class NextInstalment:
    due_on: dt.date            # Beijing date
    amount: Decimal            # yuan still to pay on it
    product_name: str
    overdue: bool


@dataclass(frozen=True)
class FarmerSummary:
    subject_id: int
    name_masked: str           # "张*华"
    grade: str | None          # "B1"; None: not yet rated
    grade_words: str           # "信用良好一档（B1级）"
    benefits: list[str]        # what the grade brings (rate, limit, services)
    limit: Decimal | None      # the best credit line / limit the grade gives, yuan
    reasons: list[str]         # the 2–3 reasons that matter most
    tip: str | None            # one concrete way to improve
    next_instalment: NextInstalment | None


def farmer_summary(session: Session, actor: Actor | None, subject_id: int, *,
                   locale: str | None = None, today: dt.date | None = None) -> FarmerSummary:
    """The summary of a household the actor reaches for its grade ("not found" otherwise)."""
    locale = normalise_locale(locale)
    today = today or rules.today()
    # The grade's own read (its look on the query log takes the signed-in User the web hands us).
    subject = subject_for_grade(session, actor, subject_id)  # type: ignore[arg-type]
    record = current_grade(session, subject.id)
    grade = record.grade if record else None
    lines = _credit_lines(session, actor, subject.id, today)
    offers = _offers(subject, grade)
    limits = [line.amount for line in lines] + [limit for _p, limit, _r in offers]
    return FarmerSummary(
        subject_id=subject.id, name_masked=mask_name(subject.name), grade=grade,
        grade_words=grade_words(grade, locale),
        benefits=_benefits(lines, offers, grade, locale), limit=max(limits) if limits else None,
        reasons=top_reasons(record.reasons if record else [], locale),
        tip=tip_of(record.reasons if record else [], locale),
        next_instalment=next_instalment(session, actor, subject.id, today, locale))


def grade_words(grade: str | None, locale: str | None = None) -> str:
    """The grade in plain words: "信用良好一档（B1级）"; "还没有信用等级" before the first."""
    if grade is None:
        return translate(_("还没有信用等级"), locale)
    band = load_grade_table().band(grade)
    name = band.name_en if normalise_locale(locale) == "en" else band.name_zh
    return translate(_("信用{name}（{grade}级）"), locale, name=name, grade=grade)


def _text(reason: dict[str, Any], locale: str) -> str:
    return str(reason.get("en" if locale == "en" else "zh") or reason.get("zh") or "")


def top_reasons(reasons: list[dict[str, Any]], locale: str | None = None) -> list[str]:
    """The factors that moved the score most, up or down, strongest first, said plainly."""
    locale = normalise_locale(locale)
    moved = [r for r in reasons if r.get("direction") in ("up", "down")]
    moved.sort(key=lambda r: -abs(int(r.get("points") or 0)))
    return [_text(r, locale) for r in moved[:TOP_REASONS]]


def tip_of(reasons: list[dict[str, Any]], locale: str | None = None) -> str | None:
    """One concrete way to improve: the factor with most to gain, else the gap to the next grade."""
    locale = normalise_locale(locale)
    for direction in ("improve", "next"):
        found = next((r for r in reasons if r.get("direction") == direction), None)
        if found is not None:
            return _text(found, locale)
    return None


# -- what the grade brings ---------------------------------------------------------------------
def _credit_lines(session: Session, actor: Actor | None, household: int, today: dt.date
                  ) -> list[CreditLine]:
    """The household's pre-approved lines in force (整村授信), as the actor reaches them."""
    stmt = sa.select(CreditLine).where(
        CreditLine.subject_id.in_(rules.household_members([household])),
        CreditLine.status == LineStatus.active, CreditLine.valid_until >= today)
    return list(session.scalars(scope(stmt, actor, CREDIT_LINES)
                                .order_by(CreditLine.amount.desc(), CreditLine.id)))


def _offers(subject: Subject, grade: str | None) -> list[tuple[Product, Decimal, Decimal]]:
    """(product, limit, rate) of every product that lends to this grade where the subject lives,
    the highest limit first, then the lowest rate."""
    kind = "entity" if subject.kind == "entity" else "household"
    found = []
    for product in load_products().values():
        terms = product.terms_for(grade)
        places = product.eligibility.regions
        if terms is None or kind not in product.eligibility.subject_kinds or (
                places and not any(subject.region_code.startswith(p) for p in places)):
            continue
        limit = terms.limit_entity if kind == "entity" else terms.limit_household
        if limit > 0:
            found.append((product, limit, product.rate_for(terms)))
    found.sort(key=lambda o: (-o[1], o[2], o[0].code))
    return found


def _product_name(product: Product, locale: str) -> str:
    return product.name_en if locale == "en" else product.name_zh


def _benefits(lines: list[CreditLine], offers: list[tuple[Product, Decimal, Decimal]],
              grade: str | None, locale: str) -> list[str]:
    out = [translate(_("已有授信额度 {amount}，{rate}，{until}前可用"), locale,
                     amount=yuan(line.amount, locale), rate=rate(line.rate_pct, locale),
                     until=day(line.valid_until, locale)) for line in lines]
    for product, limit, pct in offers[:max(0, TOP_BENEFITS - len(out))]:
        out.append(_offer_words(product, grade, limit, pct, locale))
    return out


def _offer_words(product: Product, grade: str | None, limit: Decimal, pct: Decimal,
                 locale: str) -> str:
    """"信用贷（纯信用）：最高 15万元，年利率 3.7%，不需要担保人，10万元以内可当场预批" in one line."""
    terms = product.terms_for(grade)
    parts = [translate(_("最高 {amount}"), locale, amount=yuan(limit, locale)), rate(pct, locale),
             translate(_("需要担保人") if terms and terms.guarantor_required else _("不需要担保人"),
                       locale)]
    fast = product.simple_case
    if fast is not None and grade in fast.grades:
        parts.append(translate(_("{amount}以内可当场预批"), locale,
                               amount=yuan(fast.max_amount, locale)))
    return translate(_("{product}：{terms}"), locale, product=_product_name(product, locale),
                     terms=translate(_("，"), locale).join(parts))


# -- the next instalment -----------------------------------------------------------------------
def next_instalment(session: Session, actor: Actor | None, household: int, today: dt.date,
                    locale: str | None = None) -> NextInstalment | None:
    """The earliest instalment not fully paid of the household's loans in repayment (an overdue
    one first, since it is the earliest), as the actor reaches the loans."""
    due = Instalment.principal + Instalment.interest - Instalment.paid
    stmt = (sa.select(Instalment, Loan.product_code).join(Loan, Loan.id == Instalment.loan_id)
            .where(Loan.subject_id.in_(rules.household_members([household])),
                   Loan.status == LoanStatus.active, due > 0)
            .order_by(Instalment.due_on, Instalment.id).limit(1))
    row = session.execute(scope(stmt, actor, LOANS)).first()
    if row is None:
        return None
    inst, code = row
    product = load_products().get(code)
    return NextInstalment(due_on=inst.due_on, amount=inst.principal + inst.interest - inst.paid,
                          product_name=_product_name(product, normalise_locale(locale)) if product
                          else code, overdue=inst.due_on < today)
