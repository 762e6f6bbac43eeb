"""What the farmer's pages show (农户端): each page's data read through the capabilities' own
service functions — the credit file (:mod:`ctown.ingest.creditfile`), the query log and
objections (:mod:`ctown.privacy.service`), loans and applications (:mod:`ctown.lending`), proxy
mandates and their acts (:mod:`ctown.proxy`) — so each read is reached, logged and masked
exactly as on the officers' pages, and put into plain words for a small screen.

The pages are the household's own: the feature gate is the one table's ``farmer_page`` row, the
household the signed-in farmer's ``subject_id``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.orm import Session

from ctown.access.scope import get_subject_for, require
from ctown.accounts.models import User
from ctown.catalogue.service import load_catalogue
from ctown.db import utcnow
from ctown.errors import Invalid, NotFound
from ctown.i18n import Message, _, normalise_locale, translate
from ctown.ingest.creditfile import credit_file
from ctown.ingest.mapping import load_mappings
from ctown.lending import loans as lending_loans
from ctown.lending import service as lending
from ctown.lending.approval import STATE_LABELS, State
from ctown.lending.models import Instalment, Loan, LoanApplication, LoanStatus
from ctown.lending.products import load_products
from ctown.lending.workdays import Deadline
from ctown.privacy import service as privacy
from ctown.privacy.models import Objection
from ctown.privacy.service import LoggedQuery
from ctown.proxy import acts as proxy_acts
from ctown.proxy import service as proxy
from ctown.proxy.service import MandateRow

#: What each look was for, in words (``CreditQuery.purpose``: the looks of
#: :func:`ctown.access.looks.record_look` and the bank purposes of a consent).
LOOK_WORDS: dict[str, str] = {
    "credit_file": _("查阅信用档案"), "grade": _("查阅信用等级"), "register": _("查阅户籍信息"),
    "application": _("查阅贷款申请"), "loan": _("查阅贷款"), "village_grant": _("整村授信评估"),
    **privacy.PURPOSES}


def household_of(actor: User) -> int:
    """The signed-in household (the farmer's own); 403 for a role without farmer pages."""
    require(actor, "farmer_page", "view")
    if actor.subject_id is None:
        raise NotFound()
    return actor.subject_id


def _name(product_code: str, locale: str) -> str:
    product = load_products().get(product_code)
    if product is None:
        return product_code
    return product.name_en if locale == "en" else product.name_zh


# -- the credit file by category (信用档案) -----------------------------------------------------
@dataclass(frozen=True)
class Entry:
    subject_id: int
    code: str
    whose: str | None  # the member's name; None for the household's own records
    name: str
    value: str
    on: dt.date
    source: str
    disputed: bool


@dataclass(frozen=True)
class Category:
    name: str
    entries: list[Entry]


def credit_file_page(session: Session, actor: User, locale: str | None = None
                     ) -> list[Category]:
    """The household's file and its members', current values grouped by the catalogue's
    categories, each with the department it came from; categories without a value left out."""
    locale = normalise_locale(locale)
    household = get_subject_for(session, actor, household_of(actor))
    people = [(household.id, None), *((m.id, m.name) for m in household.members)]
    departments = {code: (m.name_en if locale == "en" else m.name_zh)
                   for code, m in load_mappings().items()}
    disputed = privacy.disputed_codes(session, [sid for sid, _n in people])
    by_category: dict[str, list[Entry]] = {}
    for sid, whose in people:
        for ind in credit_file(session, actor, sid, locale=locale).indicators:
            if ind.current is None:
                continue
            by_category.setdefault(ind.category, []).append(Entry(
                sid, ind.code, whose, ind.name_en if locale == "en" else ind.name_zh,
                ind.current.display, ind.current.observed_on,
                departments.get(ind.current.department, ind.current.department),
                ind.code in disputed))
    out = []
    for cat in load_catalogue().categories:
        if cat.code in by_category:
            out.append(Category(cat.name_en if locale == "en" else cat.name_zh,
                                by_category.pop(cat.code)))
    for rest in by_category.values():  # a retired catalogue's categories keep their values
        out.append(Category(translate(_("其他"), locale), rest))
    return out


def raise_objection(session: Session, actor: User, *, subject_id: int, indicator_code: str,
                    reason: str) -> Objection:
    """An objection to one record of the file (异议), as privacy records every objection."""
    household_of(actor)
    return privacy.raise_objection(session, actor, subject_id=subject_id,
                                   indicator_code=indicator_code or None, reason=reason)


# -- consents to banks (授权) -------------------------------------------------------------------
def banks(locale: str | None = None) -> dict[str, str]:
    """The banks a farmer may authorise, code → name: those whose products the county offers
    (the product files), so the farmer chooses from a list instead of typing a code."""
    del locale  # bank names are proper names, the same in both languages
    return {p.bank_code: p.bank_name for p in sorted(load_products().values(),
                                                     key=lambda p: p.bank_name)}


@dataclass(frozen=True)
class ConsentCard:
    id: int
    bank: str
    purpose: str
    scope: str
    until: dt.datetime
    in_force: bool


#: How long a consent may be given for, in days, as the form offers it.
CONSENT_DAYS = (30, 90, 180, 365)


def consents_page(session: Session, actor: User, locale: str | None = None
                  ) -> list[ConsentCard]:
    """The household's consents as the farmer reads them: to which bank, for what, until when."""
    locale = normalise_locale(locale)
    names = {**privacy.institution_names(), **banks()}
    now = utcnow()
    out = []
    for c in privacy.consents_for(session, actor, household_of(actor)):
        collect = c.scope == privacy.COLLECT
        out.append(ConsentCard(
            c.id, translate(_("本平台"), locale) if collect else names.get(c.bank_code,
                                                                          c.bank_code),
            translate(_("信息采集授权书") if collect else privacy.PURPOSES.get(c.purpose,
                                                                           c.purpose), locale),
            translate(_("采集需授权的信息") if collect else _("查询我的信用报告")
                      if c.scope == "query" else _("向银行提供我的信用数据"), locale),
            c.valid_until, c.revoked_at is None and c.granted_at <= now < c.valid_until))
    return out


def grant_consent(session: Session, actor: User, *, bank_code: str, purpose: str, scope: str,
                  days: int) -> None:
    """Authorise a bank chosen from the list (a code not on it is refused, in both languages)."""
    household = household_of(actor)
    if bank_code not in banks():
        raise Invalid(Message(_("请从列表中选择银行")))
    privacy.grant_consent(session, actor, subject_id=household, bank_code=bank_code,
                          purpose=purpose, scope=scope, days=days)


def revoke_consent(session: Session, actor: User, consent_id: int) -> None:
    household_of(actor)
    privacy.revoke_consent(session, actor, consent_id)


# -- who looked (查询记录) -----------------------------------------------------------------------
@dataclass(frozen=True)
class Look:
    at: dt.datetime
    who: str
    institution: str
    why: str
    allowed: bool


def looks_page(session: Session, actor: User, locale: str | None = None) -> list[Look]:
    locale = normalise_locale(locale)
    entries: list[LoggedQuery] = privacy.queries_for(session, actor, household_of(actor))
    return [Look(q.at, q.actor_name,
                 (q.institution_name_en if locale == "en" and q.institution_name_en
                  else q.institution_name),
                 translate(LOOK_WORDS.get(q.purpose, _("其他用途")), locale),
                 q.outcome == "allowed") for q in entries]


# -- loans with their next instalment (贷款) -----------------------------------------------------
@dataclass(frozen=True)
class Due:
    number: int
    on: dt.date
    amount: Decimal
    left: Decimal  # still to pay on it
    overdue: bool


@dataclass(frozen=True)
class LoanCard:
    id: int
    product: str
    contract_no: str
    principal: Decimal
    outstanding: Decimal
    rate_pct: Decimal
    status: str
    days_past_due: int
    next_due: Due | None
    schedule: list[Due]


def _due(inst: Instalment, today: dt.date) -> Due:
    amount = inst.principal + inst.interest
    left = max(Decimal("0.00"), amount - inst.paid)
    return Due(inst.number, inst.due_on, amount, left, left > 0 and inst.due_on < today)


def _card(loan: Loan, today: dt.date, locale: str) -> LoanCard:
    schedule = [_due(i, today) for i in loan.instalments]
    unpaid = [d for d in schedule if d.left > 0] if loan.status == LoanStatus.active else []
    return LoanCard(loan.id, _name(loan.product_code, locale), loan.contract_no, loan.principal,
                    loan.outstanding, loan.rate_pct,
                    translate(lending_loans.STATUS_LABELS.get(loan.status, loan.status), locale),
                    loan.days_past_due, unpaid[0] if unpaid else None, schedule)


def loans_page(session: Session, actor: User, today: dt.date, locale: str | None = None
               ) -> list[LoanCard]:
    """The household's loans, those in repayment first, each with its next instalment."""
    household_of(actor)
    locale = normalise_locale(locale)
    cards = [_card(loan, today, locale) for loan in lending_loans.list_loans(session, actor)]
    return sorted(cards, key=lambda c: (c.next_due is None, c.next_due.on if c.next_due
                                        else dt.date.max, -c.id))


# -- applications with their step and deadline (贷款申请) ---------------------------------------
#: Where each state stands among the four steps (自动决策, 村级初审, 乡镇审核, 银行终审);
#: 0 for an application that has ended.
STEP_OF: dict[State, int] = {
    State.declined: 1, State.review_requested: 1, State.submitted: 2, State.village_approved: 3,
    State.township_approved: 4, State.approved: 4, State.disbursed: 4, State.returned: 1,
    State.rejected: 0, State.withdrawn: 0}
STEPS = 4


@dataclass(frozen=True)
class ApplicationCard:
    id: int
    product: str
    amount: Decimal
    offer: Decimal | None
    state: str
    step: int
    created_at: dt.datetime
    deadline: Deadline | None
    done: bool


def applications_page(session: Session, actor: User, today: dt.date,
                      locale: str | None = None) -> list[ApplicationCard]:
    household_of(actor)
    locale = normalise_locale(locale)
    apps: list[LoanApplication] = lending.list_applications(session, actor)
    return [ApplicationCard(a.id, _name(a.product_code, locale), a.amount_requested,
                            a.offer_amount, translate(STATE_LABELS[State(a.state)], locale),
                            STEP_OF[State(a.state)], a.created_at, lending.deadline(a, today),
                            State(a.state) in (State.disbursed, State.rejected, State.withdrawn))
            for a in apps]


# -- proxies and their acts (信用代理) -----------------------------------------------------------
@dataclass(frozen=True)
class ProxiesPage:
    mandates: list[MandateRow]
    acts: list[tuple[dt.datetime, str, str]]  # (when, which proxy, what), newest first


def proxies_page(session: Session, actor: User, locale: str | None = None) -> ProxiesPage:
    household = household_of(actor)
    acts = proxy_acts.acts_on_household(session, actor, household)
    locale = normalise_locale(locale)
    return ProxiesPage(proxy.own_mandates(session, actor),
                       [(a.at, a.proxy_name, a.render(locale)) for a in acts])
