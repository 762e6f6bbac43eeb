"""The instant decision (即时决策): eligibility, offer and pre-approval, computed in memory.

Pure and fast — the web endpoint calls it per request with facts fetched in two queries, and the
whole-village grant calls it for thousands of households. Every rule that applies adds a reason
(a :class:`Message`), favourable or not, so the applicant is told *why* (个人信息保护法 第24条:
an automated decision must be explained and may be reviewed by a person).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from ctown.i18n import Message, _
from ctown.lending import schedule
from ctown.lending.products import Product


@dataclass(frozen=True)
class Facts:
    """What the decision needs to know about the applicant."""

    kind: str                    # "household" | "entity"
    region_code: str             # the village
    grade: str | None
    age: int | None = None       # of the household head / the applying person
    punished: bool = False       # on the joint punishment list (失信被执行人)


@dataclass(frozen=True)
class Request:
    amount: Decimal
    term_months: int
    method: str
    collateral_type: str | None = None
    collateral_value: Decimal | None = None
    contract_amount: Decimal | None = None   # supply chain: purchase contract with the core firm


@dataclass(frozen=True)
class Offer:
    limit: Decimal
    amount: Decimal
    rate_pct: Decimal
    term_months: int
    method: str
    guarantor_required: bool
    schedule: list[schedule.Instalment]

    @property
    def monthly_first(self) -> Decimal:
        return self.schedule[0].amount


@dataclass(frozen=True)
class Decision:
    eligible: bool
    preapproved: bool
    reasons: list[Message] = field(default_factory=list)
    offer: Offer | None = None


def age_on(birth: dt.date | None, today: dt.date) -> int | None:
    if birth is None:
        return None
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def _eligibility(product: Product, facts: Facts) -> list[Message]:
    """The reasons for refusal (empty when eligible)."""
    rules = product.eligibility
    refusals: list[Message] = []
    if facts.kind not in rules.subject_kinds:
        refusals.append(Message(_("该产品不面向此类主体")))
    if rules.regions and not any(facts.region_code.startswith(p) for p in rules.regions):
        refusals.append(Message(_("该产品不在您所在地区发放")))
    if rules.exclude_punished and facts.punished:
        refusals.append(Message(_("列入失信联合惩戒名单，暂不能申请（可申请信用修复）")))
    if facts.kind == "household" and facts.age is not None and not (
            rules.age_min <= facts.age <= rules.age_max):
        refusals.append(Message(_("申请人年龄 {age} 岁，不在 {low}–{high} 岁范围内"),
                                {"age": facts.age, "low": rules.age_min, "high": rules.age_max}))
    if facts.grade is None:
        refusals.append(Message(_("尚无信用等级，请先完成信用评价")))
    elif facts.grade not in product.grades:
        refusals.append(Message(_("信用等级 {grade} 不在该产品的准入等级内"),
                                {"grade": facts.grade}))
    return refusals


def _limit(product: Product, facts: Facts, req: Request) -> tuple[Decimal, list[Message]]:
    terms = product.grades[str(facts.grade)]
    limit = terms.limit_entity if facts.kind == "entity" else terms.limit_household
    notes = [Message(_("信用等级 {grade}：额度上限 {limit} 元"),
                     {"grade": facts.grade, "limit": f"{limit:,.0f}"})]
    if product.kind == "collateral":
        rate = terms.collateral_rate or Decimal(0)
        value = req.collateral_value or Decimal(0)
        secured = schedule.to_fen(value * rate)
        notes.append(Message(_("抵押物估值 {value} 元 × 抵押率 {rate}% = {secured} 元"),
                             {"value": f"{value:,.2f}", "rate": f"{rate * 100:.0f}",
                              "secured": f"{secured:,.2f}"}))
        limit = min(limit, secured)
    if product.kind == "supply_chain" and product.core_enterprise:
        core = product.core_enterprise
        backed = schedule.to_fen((req.contract_amount or Decimal(0)) * core.advance_rate)
        notes.append(Message(_("核心企业 {name} 收购合同的 {rate}% 为 {backed} 元"),
                             {"name": core.name, "rate": f"{core.advance_rate * 100:.0f}",
                              "backed": f"{backed:,.2f}"}))
        limit = min(limit, backed)
    return limit, notes


def _request_errors(product: Product, req: Request) -> list[Message]:
    errors: list[Message] = []
    if req.term_months not in product.terms_months:
        errors.append(Message(_("期限须为 {terms} 个月之一"),
                              {"terms": "/".join(map(str, product.terms_months))}))
    if req.method not in product.methods:
        errors.append(Message(_("该产品不支持所选还款方式")))
    if product.kind == "collateral" and (
            not product.collateral or req.collateral_type not in product.collateral.types):
        errors.append(Message(_("请选择抵押物类型（宅基地使用权或大型农机具）")))
    return errors


def decide(product: Product, facts: Facts, req: Request, today: dt.date) -> Decision:
    refusals = _eligibility(product, facts) + _request_errors(product, req)
    if refusals:
        return Decision(eligible=False, preapproved=False, reasons=refusals)
    terms = product.grades[str(facts.grade)]
    limit, reasons = _limit(product, facts, req)
    if limit <= 0:
        return Decision(False, False, [*reasons, Message(_("可贷额度为零"))])
    amount = min(schedule.to_fen(req.amount), limit)
    if amount < req.amount:
        reasons.append(Message(_("申请金额超过额度，按额度 {limit} 元核定"),
                               {"limit": f"{limit:,.2f}"}))
    rate = product.rate_for(terms)
    reasons.append(Message(_("年利率 {rate}%（基准 {base}% {adjust}%）"),
                           {"rate": str(rate), "base": str(product.base_rate_pct),
                            "adjust": f"{terms.rate_adjust_pct:+}"}))
    if terms.guarantor_required:
        reasons.append(Message(_("该等级需要一名担保人")))
    plan = schedule.build(req.method, amount, rate, req.term_months, today)
    offer = Offer(limit, amount, rate, req.term_months, req.method, terms.guarantor_required, plan)
    simple = product.simple_case
    pre = bool(simple and facts.grade in simple.grades and amount <= simple.max_amount
               and not terms.guarantor_required)
    reasons.append(Message(_("符合快速通道，已预批准，待村、乡镇、银行三级确认") if pre
                           else _("需经村、乡镇、银行逐级审批")))
    return Decision(True, pre, reasons, offer)
