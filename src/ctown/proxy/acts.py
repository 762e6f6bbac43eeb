"""Every act of every proxy on a household (代理记录), in one list the farmer reads, newest first.

Nothing new is recorded for it: each act is already kept where it happens, with its actor —

- the mandates themselves: recorded, confirmed, revoked (``proxy_mandates``);
- the proxy's looks at the household's data (``privacy_credit_queries``: the access layer logs
  every look by anyone but the household itself, ``ctown.access.looks``);
- the loan applications the proxy filed and what they did with them afterwards
  (``loan_transitions.actor_id``);
- consents the proxy gave or revoked (``privacy_consents.granted_by_id`` / ``revoked_by_id``),
  objections they raised (``privacy_objections.raised_by_id``).

"Every proxy" is every user the household ever gave a mandate to, in any state. Eight statements
(the household with its members, its mandates, the names, one per kind of act), whatever the
length of the list (tests/test_proxy_service.py counts them).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.access.scope import get_subject_for, is_own_household, require, scope
from ctown.accounts.models import ProxyMandate, User
from ctown.i18n import _, translate
from ctown.lending.approval import ACTION_LABELS, Action
from ctown.lending.models import LoanApplication, Transition
from ctown.lending.products import get_product
from ctown.privacy.models import Consent, CreditQuery, Objection
from ctown.privacy.service import PURPOSES, institution_names
from ctown.proxy.access import MANDATES
from ctown.proxy.service import SCOPE_LABELS, last_day, scopes_of

LIMIT = 200
_ACTIONS: dict[str, str] = {a.value: label for a, label in ACTION_LABELS.items()}
LOOKS = {"credit_file": _("查阅信用档案"), "grade": _("查阅信用等级"),
         "register": _("查阅户籍信息"), "application": _("查阅贷款申请"), "loan": _("查阅贷款")}


@dataclass(frozen=True)
class Act:
    """One line of the list: when, which proxy, what — as a message rendered per language
    (``params_en`` holds the names that differ in English: products, scopes)."""

    at: dt.datetime
    proxy_id: int
    proxy_name: str
    kind: str
    msgid: str
    params: dict[str, Any] = field(default_factory=dict)
    params_en: dict[str, Any] = field(default_factory=dict)
    mandate_id: int | None = None

    def render(self, locale: str | None = None) -> str:
        params = {**self.params, **self.params_en} if locale == "en" else self.params
        return translate(self.msgid, locale, **params)


def acts_on_household(session: Session, actor: User | None, household_id: int | None = None,
                      limit: int = LIMIT) -> list[Act]:
    """The acts of the household's proxies, newest first (default: the actor's own household)."""
    require(actor, "mandate", "acts")
    household_id = household_id or (actor.subject_id if actor else None)
    if household_id is None:
        return []
    household = get_subject_for(session, actor, household_id)
    hid = rules.household_id_of(household)
    mandates = list(session.scalars(scope(
        sa.select(ProxyMandate).where(ProxyMandate.subject_id == hid), actor, MANDATES, "acts")))
    if not mandates:
        return []
    proxies = {m.proxy_id for m in mandates}
    names = _names(session, proxies | {m.recorded_by_id for m in mandates if m.recorded_by_id}
                   | {m.revoked_by_id for m in mandates if m.revoked_by_id})
    members = rules.household_members([hid])
    own = actor is not None and is_own_household(actor, household)
    acts = [*(a for m in mandates for a in _mandate_acts(m, names, own)),
            *_looks(session, proxies, members, names, limit),
            *_applications(session, proxies, members, names, limit),
            *_consents(session, proxies, hid, names, limit),
            *_objections(session, proxies, members, names, limit)]
    return sorted(acts, key=lambda a: a.at, reverse=True)[:limit]


def _act(at: dt.datetime, who: int | None, names: dict[int, str], kind: str, msgid: str,
         params: dict[str, Any] | None = None, params_en: dict[str, Any] | None = None,
         mandate_id: int | None = None) -> Act:
    """An act by the proxy ``who`` (never None here: each source is filtered on its proxies)."""
    proxy = who or 0
    return Act(at, proxy, names.get(proxy, ""), kind, msgid, params or {}, params_en or {},
               mandate_id)


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    return {i: n or u for i, n, u in session.execute(
        sa.select(User.id, User.display_name, User.username).where(User.id.in_(ids)))}


def _mandate_acts(m: ProxyMandate, names: dict[int, str], own: bool) -> Iterator[Act]:
    scope_zh = "、".join(SCOPE_LABELS[s] for s in scopes_of(m))
    scope_en = ", ".join(translate(SCOPE_LABELS[s], "en") for s in scopes_of(m))
    until = last_day(m).isoformat()
    if m.recorded_by_id is not None:
        yield _act(m.granted_at, m.proxy_id, names, "recorded",
                   _("{officer} 在服务点登记了授权：{scope}，有效期至 {until}"),
                   {"officer": names.get(m.recorded_by_id, ""), "scope": scope_zh,
                    "until": until}, {"scope": scope_en}, m.id)
    else:
        yield _act(m.granted_at, m.proxy_id, names, "recorded",
                   _("授权已登记（平台升级前）：有效期至 {until}"), {"until": until}, None, m.id)
    if m.confirmed_at is not None:
        msgid = {"sms": _("用短信验证码确认了授权"),
                 "paper": _("凭纸质授权书（编号 {ref}）确认了授权"),
                 "legacy": _("平台升级前登记的授权，视为已确认")}[m.confirmation or "legacy"]
        yield _act(m.confirmed_at, m.proxy_id, names, "confirmed", msgid,
                   {"ref": m.paper_ref or ""}, None, m.id)
    if m.revoked_at is not None:
        yield _revoked(m, m.revoked_at, names, own)


def _revoked(m: ProxyMandate, at: dt.datetime, names: dict[int, str], own: bool) -> Act:
    if m.revoked_by_id is None:
        msgid, params = _("县信用服务中心撤销了授权：{reason}"), {"reason": m.revoke_reason or ""}
    elif m.revoke_reason is None:
        msgid, params = (_("您撤销了授权") if own else _("农户撤销了授权")), {}
    else:
        msgid = _("{officer} 撤销了授权：{reason}")
        params = {"officer": names.get(m.revoked_by_id, ""), "reason": m.revoke_reason}
    return _act(at, m.proxy_id, names, "revoked", msgid, params, None, m.id)


def _looks(session: Session, proxies: set[int], members: sa.CompoundSelect[int],
           names: dict[int, str], limit: int) -> Iterator[Act]:
    rows = session.execute(sa.select(CreditQuery.at, CreditQuery.actor_id, CreditQuery.purpose)
                           .where(CreditQuery.actor_id.in_(proxies),
                                  CreditQuery.subject_id.in_(members))
                           .order_by(CreditQuery.id.desc()).limit(limit))
    for at, actor_id, purpose in rows:
        yield _act(at, actor_id, names, "look", LOOKS.get(purpose, _("查阅了您家的信息")))


def _applications(session: Session, proxies: set[int], members: sa.CompoundSelect[int],
                  names: dict[int, str], limit: int) -> Iterator[Act]:
    rows = session.execute(
        sa.select(Transition.at, Transition.actor_id, Transition.action, LoanApplication.id,
                  LoanApplication.product_code, LoanApplication.amount_requested)
        .join(LoanApplication, LoanApplication.id == Transition.application_id)
        .where(Transition.actor_id.in_(proxies), LoanApplication.subject_id.in_(members))
        .order_by(Transition.id.desc()).limit(limit))
    for at, actor_id, action, app_id, code, amount in rows:
        product = get_product(code)
        params = {"no": app_id, "product": product.name_zh if product else code,
                  "amount": f"{amount:,.2f}"}
        en = {"product": product.name_en if product else code}
        if action == Action.submit:
            yield _act(at, actor_id, names, "applied",
                       _("代为申请贷款：{product}，{amount} 元（申请 {no}）"), params, en)
            continue
        label = _ACTIONS.get(action, action)
        yield _act(at, actor_id, names, "application", _("贷款申请 {no}（{product}）：{action}"),
                   {**params, "action": label}, {**en, "action": translate(label, "en")})


def _consents(session: Session, proxies: set[int], hid: int, names: dict[int, str],
              limit: int) -> Iterator[Act]:
    rows = session.scalars(sa.select(Consent).where(
        Consent.subject_id == hid, sa.or_(Consent.granted_by_id.in_(proxies),
                                          Consent.revoked_by_id.in_(proxies)))
        .order_by(Consent.id.desc()).limit(limit))
    banks = institution_names()
    for c in rows:
        params = {"bank": banks.get(c.bank_code, c.bank_code),
                  "purpose": PURPOSES.get(c.purpose, c.purpose)}
        en = {"purpose": translate(params["purpose"], "en")}
        if c.granted_by_id in proxies:
            msgid = _("代为登记了信息采集授权书") if c.scope == "collect" else \
                _("代为授权 {bank} 查询（{purpose}）")
            yield _act(c.granted_at, c.granted_by_id, names, "consent", msgid, params, en)
        if c.revoked_by_id in proxies and c.revoked_at is not None:
            yield _act(c.revoked_at, c.revoked_by_id, names, "consent_revoked",
                       _("代为撤回了对 {bank} 的授权（{purpose}）"), params, en)


def _objections(session: Session, proxies: set[int], members: sa.CompoundSelect[int],
                names: dict[int, str], limit: int) -> Iterator[Act]:
    rows = session.execute(sa.select(Objection.raised_at, Objection.raised_by_id).where(
        Objection.raised_by_id.in_(proxies), Objection.subject_id.in_(members))
        .order_by(Objection.id.desc()).limit(limit))
    for at, actor_id in rows:
        yield _act(at, actor_id, names, "objection", _("代为提出了异议"))
