"""The mandate lifecycle (信用代理授权): recorded at the village service point, confirmed by the
farmer, in force within its scope until its end date, revoked at any time.

1. An officer of the household's place records it (:func:`record`): the household, a proxy who
   serves its place, the scope (query, apply, consent), an end date from today to one year ahead.
2. The farmer confirms it, either with a one-time code sent by SMS to the phone on file
   (:func:`send_code`, then :func:`confirm_code` with what the farmer reads out — the officer
   never sees the code) or with the reference of the signed paper form (:func:`confirm_paper`).
3. From then until its end date it is in force; :func:`revoke` ends it, by the household from its
   own page or by an officer at the service point (with a reason).

Every step takes the acting user and writes an audit event in the same transaction; services
never commit. What a mandate in force lets the proxy reach is the access layer's rule
(:func:`ctown.access.rules.mandate_valid`, :data:`ctown.access.policy.BY_MANDATE`).
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown import masking
from ctown.access import rules
from ctown.access.policy import MANDATE_SCOPES, Reach, reaches
from ctown.access.scope import (
    Actor,
    get_for,
    get_subject_for,
    is_own_household,
    log_denied,
    reaches_values,
    region_prefix,
    require,
    scope,
    scope_subjects,
)
from ctown.accounts.models import ProxyMandate, User
from ctown.accounts.roles import Role
from ctown.audit import audit
from ctown.crypto import FieldCipher
from ctown.db import storable_int, utcnow
from ctown.errors import Conflict, Invalid, NotFound
from ctown.i18n import Message, _
from ctown.proxy import marks, notices
from ctown.proxy.access import MANDATES
from ctown.registry.models import Region, Subject

marks.install()  # every act of a proxy is texted to the household

#: A one-time code lives 10 minutes; at most 3 are sent and 5 wrong codes typed per mandate
#: (then the paper form is the way): 5 guesses of a million codes leave 1 chance in 200,000.
CODE_TTL = dt.timedelta(minutes=10)
CODE_DIGITS = 6
MAX_CODE_SENDS = 3
MAX_CODE_FAILURES = 5
PAPER_REF_MAX = 40
REASON_MAX = 200

SCOPE_LABELS = {"query": _("查询信用信息"), "apply": _("代为申请贷款"),
                "consent": _("代为授权银行查询")}


class State(StrEnum):
    """Where a mandate stands, in this order of precedence."""

    revoked = "revoked"
    expired = "expired"
    awaiting = "awaiting"    # recorded, the farmer has not confirmed yet
    in_force = "in_force"


STATE_LABELS = {State.awaiting: _("待确认"), State.in_force: _("生效中"),
                State.expired: _("已过期"), State.revoked: _("已撤销")}


def state_of(mandate: ProxyMandate, at: dt.datetime | None = None) -> State:
    at = at or utcnow()
    if mandate.revoked_at is not None:
        return State.revoked
    if mandate.valid_until <= at:
        return State.expired
    return State.awaiting if mandate.confirmed_at is None else State.in_force


def state_is(state: State, at: dt.datetime | None = None) -> sa.ColumnElement[bool]:
    """SQL: the mandate is in ``state`` (the same order as :func:`state_of`)."""
    at = at or utcnow()
    live = sa.and_(ProxyMandate.revoked_at.is_(None), ProxyMandate.valid_until > at)
    return {State.revoked: ProxyMandate.revoked_at.is_not(None),
            State.expired: sa.and_(ProxyMandate.revoked_at.is_(None),
                                   ProxyMandate.valid_until <= at),
            State.awaiting: sa.and_(live, ProxyMandate.confirmed_at.is_(None)),
            State.in_force: rules.mandate_valid(at)}[state]


def scopes_of(mandate: ProxyMandate) -> list[str]:
    return [s for s in MANDATE_SCOPES if getattr(mandate, f"scope_{s}")]


def last_day(mandate: ProxyMandate) -> dt.date:
    """The end date as recorded: ``valid_until`` is the first instant after it."""
    return rules.local_time(mandate.valid_until - dt.timedelta(microseconds=1)).date()


def latest_end(today: dt.date) -> dt.date:
    """The last end date allowed: the same day a year on (28 February for a 29th)."""
    try:
        return today.replace(year=today.year + 1)
    except ValueError:
        return today.replace(year=today.year + 1, day=28)


# -- recording ------------------------------------------------------------------------------------
def record(session: Session, actor: User | None, *, household_id: int, proxy_id: int,
           scopes: Iterable[str], until: dt.date, today: dt.date | None = None) -> ProxyMandate:
    """Record a household's mandate to a proxy (登记), awaiting the farmer's confirmation."""
    require(actor, "mandate", "record")
    household = _household_to_record(session, actor, household_id)
    proxy = _proxy_for(session, proxy_id, household)
    chosen = _scopes(scopes)
    today = today or rules.today()
    if not today <= until <= latest_end(today):
        raise Invalid(Message(_("授权截止日期应在今天（{today}）至一年后（{latest}）之间"),
                              {"today": today.isoformat(), "latest": latest_end(today).isoformat()}))
    _refuse_overlap(session, household.id, proxy.id, chosen)
    mandate = ProxyMandate(proxy_id=proxy.id, subject_id=household.id, granted_at=utcnow(),
                           valid_until=rules.end_of_day(until),
                           recorded_by_id=actor.id if actor else None, code_sends=0,
                           code_failures=0, **{f"scope_{s}": s in chosen for s in MANDATE_SCOPES})
    session.add(mandate)
    session.flush()
    audit(session, actor, "mandate.record", f"mandate {mandate.id}", subject_id=household.id,
          proxy_id=proxy.id, scopes=sorted(chosen), valid_until=mandate.valid_until.isoformat())
    return mandate


def _household_to_record(session: Session, actor: User | None, household_id: int) -> Subject:
    """The household, if the actor records mandates where it lives (else "not found", logged)."""
    subject = get_subject_for(session, actor, household_id)
    if not reaches_values(actor, "mandate", "record", region=subject.region_code):
        log_denied(session, actor, f"subject {household_id}: mandate record")
        raise NotFound()
    if subject.kind != "household":
        raise Invalid(Message(_("只能为农户登记信用代理授权")))
    return subject


def holds_mandates(role: Role | str) -> bool:
    """May a user of this role be given mandates? (the roles that reach households by mandate)"""
    return Reach.mandate in reaches("subject", "view", role)


def _proxy_for(session: Session, proxy_id: int, household: Subject) -> User:
    """The proxy chosen: an active user who holds mandates and serves the household's place."""
    proxy = session.get(User, proxy_id) if storable_int(proxy_id) else None
    if proxy is None or not proxy.is_active or not holds_mandates(proxy.role) or \
            not household.region_code.startswith(region_prefix(proxy)):
        raise Invalid(Message(_("请选择服务该农户所在村的信用代理员")))
    return proxy


def _scopes(scopes: Iterable[str]) -> set[str]:
    chosen = set(scopes)
    if not chosen or not chosen <= set(MANDATE_SCOPES):
        raise Invalid(Message(_("请至少选择一项授权范围：查询、代为申请贷款、代为授权银行查询")))
    return chosen


def _refuse_overlap(session: Session, household_id: int, proxy_id: int, chosen: set[str]) -> None:
    """One mandate per proxy, household and scope at a time (awaiting or in force)."""
    live = sa.and_(ProxyMandate.revoked_at.is_(None), ProxyMandate.valid_until > utcnow())
    found = session.scalar(sa.select(ProxyMandate.id).where(
        ProxyMandate.subject_id == household_id, ProxyMandate.proxy_id == proxy_id, live,
        rules.mandate_covers(chosen)).limit(1))
    if found is not None:
        raise Conflict(Message(_("该代理员已有此农户同一范围的授权（待确认或生效中，编号 {id}），"
                                 "请先撤销"), {"id": found}))


# -- confirming -----------------------------------------------------------------------------------
def get_mandate_for(session: Session, actor: Actor | None, mandate_id: int,
                    purpose: str = "view") -> ProxyMandate:
    """A mandate the actor reaches for ``purpose``, else "not found" (the denial logged)."""
    mandate: ProxyMandate = get_for(session, actor, MANDATES, mandate_id, purpose)
    return mandate


def _awaiting(session: Session, actor: User | None, mandate_id: int) -> ProxyMandate:
    require(actor, "mandate", "record")
    mandate = get_mandate_for(session, actor, mandate_id, "record")
    state = state_of(mandate)
    if state is not State.awaiting:
        raise Conflict(Message(_("该授权{state}，不能再确认"), {"state": STATE_LABELS[state]}))
    return mandate


def phone_holder(session: Session, household_id: int) -> Subject | None:
    """Who of the household has the phone on file the code goes to: its head (户主)."""
    return session.scalar(sa.select(Subject).where(
        Subject.household_id == household_id, rules.is_head(Subject.relation),
        Subject.phone_index.is_not(None)).order_by(Subject.id).limit(1))


def send_code(session: Session, actor: User | None, cipher: FieldCipher, mandate_id: int
              ) -> dt.datetime:
    """Send a one-time code to the phone on file (through the outbox, after commit); returns
    when it expires. Only its keyed hash is kept; the officer never sees it."""
    mandate = _awaiting(session, actor, mandate_id)
    if mandate.code_sends >= MAX_CODE_SENDS or mandate.code_failures >= MAX_CODE_FAILURES:
        raise Conflict(Message(_("验证码次数已用完，请改用纸质授权书确认")))
    holder = phone_holder(session, mandate.subject_id)
    if holder is None:
        raise Invalid(Message(_("户主没有登记手机号，请改用纸质授权书确认")))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    mandate.code_sends += 1
    mandate.code_hash = _digest(cipher, mandate, code)
    mandate.code_expires_at = utcnow() + CODE_TTL
    proxy = session.get(User, mandate.proxy_id)
    notices.queue_code(session, mandate.id, holder.id, proxy=proxy.display_name if proxy else "",
                       scope="、".join(SCOPE_LABELS[s] for s in scopes_of(mandate)),
                       until=last_day(mandate).isoformat(), code=code)
    audit(session, actor, "mandate.code_sent", f"mandate {mandate.id}",
          subject_id=mandate.subject_id, sends=mandate.code_sends)
    return mandate.code_expires_at


def _digest(cipher: FieldCipher, mandate: ProxyMandate, code: str) -> str:
    # Keyed (the county's index key): a copy of the database alone cannot try the million codes.
    return cipher.blind_index(f"{mandate.id}:{mandate.code_sends}:{code}", "proxy_code")


@dataclass(frozen=True)
class CodeCheck:
    """The answer to a typed code. A wrong code is answered, not raised, so that the count of
    wrong codes is committed with the request (a raised error would roll it back)."""

    confirmed: bool
    message: Message | None = None
    attempts_left: int = 0


def confirm_code(session: Session, actor: User | None, cipher: FieldCipher, mandate_id: int,
                 code: str) -> CodeCheck:
    """Confirm with the code the farmer read out (一次性验证码)."""
    mandate = _awaiting(session, actor, mandate_id)
    typed = "".join(code.split())
    if mandate.code_failures >= MAX_CODE_FAILURES:
        return CodeCheck(False, Message(_("验证码输错次数过多，请改用纸质授权书确认")))
    if mandate.code_hash is None or mandate.code_expires_at is None:
        raise Invalid(Message(_("请先发送验证码")))
    if not (typed.isdigit() and len(typed) == CODE_DIGITS):
        raise Invalid(Message(_("验证码是 6 位数字")))
    if utcnow() >= mandate.code_expires_at:
        return CodeCheck(False, Message(_("验证码已过期，请重新发送")),
                         MAX_CODE_FAILURES - mandate.code_failures)
    if not hmac.compare_digest(mandate.code_hash, _digest(cipher, mandate, typed)):
        return _wrong_code(session, actor, mandate)
    _confirmed(session, actor, mandate, "sms")
    return CodeCheck(True)


def _wrong_code(session: Session, actor: User | None, mandate: ProxyMandate) -> CodeCheck:
    mandate.code_failures += 1
    left = MAX_CODE_FAILURES - mandate.code_failures
    audit(session, actor, "mandate.code_failed", f"mandate {mandate.id}",
          subject_id=mandate.subject_id, failures=mandate.code_failures)
    if left <= 0:
        mandate.code_hash = mandate.code_expires_at = None
        return CodeCheck(False, Message(_("验证码输错次数过多，请改用纸质授权书确认")))
    return CodeCheck(False, Message(_("验证码不正确，还可以再试 {left} 次"), {"left": left}), left)


def confirm_paper(session: Session, actor: User | None, mandate_id: int, paper_ref: str
                  ) -> ProxyMandate:
    """Confirm with the number of the signed paper form (纸质授权书编号), typed by the officer."""
    mandate = _awaiting(session, actor, mandate_id)
    ref = paper_ref.strip()
    if not 1 <= len(ref) <= PAPER_REF_MAX:
        raise Invalid(Message(_("请填写纸质授权书编号（不超过 {max} 个字符）"),
                              {"max": PAPER_REF_MAX}))
    used = session.scalar(sa.select(ProxyMandate.id).where(
        ProxyMandate.paper_ref == ref, ProxyMandate.id != mandate.id).limit(1))
    if used is not None:
        raise Conflict(Message(_("纸质授权书编号 {ref} 已用于另一项授权"), {"ref": ref}))
    mandate.paper_ref = ref
    _confirmed(session, actor, mandate, "paper")
    return mandate


def _confirmed(session: Session, actor: User | None, mandate: ProxyMandate, how: str) -> None:
    mandate.confirmed_at, mandate.confirmation = utcnow(), how
    mandate.code_hash = mandate.code_expires_at = None
    notices.scrub(session, mandate.id)
    audit(session, actor, "mandate.confirm", f"mandate {mandate.id}",
          subject_id=mandate.subject_id, proxy_id=mandate.proxy_id, method=how,
          paper_ref=mandate.paper_ref)


# -- revoking -------------------------------------------------------------------------------------
def revoke(session: Session, actor: User | None, mandate_id: int, reason: str | None = None
           ) -> ProxyMandate:
    """End a mandate now (撤销): the household from its own page (no reason needed), an officer
    at the service point (with the reason). An awaiting one is withdrawn the same way."""
    require(actor, "mandate", "revoke")
    mandate = get_mandate_for(session, actor, mandate_id, "revoke")
    state = state_of(mandate)
    if state in (State.revoked, State.expired):
        raise Conflict(Message(_("该授权{state}，无需撤销"), {"state": STATE_LABELS[state]}))
    household = session.get(Subject, mandate.subject_id)
    by_household = household is not None and is_own_household(actor, household)
    text = " ".join((reason or "").split())[:REASON_MAX]
    if not by_household and not text:
        raise Invalid(Message(_("在服务点撤销授权，请填写原因")))
    mandate.revoked_at, mandate.revoked_by_id = utcnow(), actor.id if actor else None
    mandate.revoke_reason = text or None
    mandate.code_hash = mandate.code_expires_at = None
    notices.scrub(session, mandate.id)
    audit(session, actor, "mandate.revoke", f"mandate {mandate.id}",
          subject_id=mandate.subject_id, proxy_id=mandate.proxy_id, by_household=by_household,
          reason=mandate.revoke_reason)
    return mandate


# -- lists ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MandateRow:
    """A mandate as a list shows it: its proxy, its household (named as the viewer may see it)."""

    mandate: ProxyMandate
    state: State
    scopes: list[str]
    proxy_name: str
    household_name: str
    region_name: str

    @property
    def until(self) -> dt.date:
        """The last day it is in force (Beijing time)."""
        return last_day(self.mandate)


def mandates_for(session: Session, actor: User | None, *, purpose: str = "view",
                 state: State | None = None, household_id: int | None = None,
                 limit: int = 200) -> list[MandateRow]:
    """The mandates the actor reaches for ``purpose``, newest first, in one query."""
    require(actor, "mandate", purpose)
    if not storable_int(household_id):
        return []  # no household's id
    stmt = (sa.select(ProxyMandate, User.display_name, Subject, Region.name)
            .join(User, User.id == ProxyMandate.proxy_id)
            .join(Subject, Subject.id == ProxyMandate.subject_id)
            .join(Region, Region.code == Subject.region_code))
    if state is not None:
        stmt = stmt.where(state_is(state))
    if household_id is not None:
        stmt = stmt.where(ProxyMandate.subject_id == household_id)
    rows = session.execute(scope(stmt, actor, MANDATES, purpose)
                           .order_by(ProxyMandate.id.desc()).limit(limit)).all()
    now = utcnow()
    return [_row(actor, m, proxy, household, region, now) for m, proxy, household, region in rows]


def _row(actor: User | None, m: ProxyMandate, proxy: str, household: Subject, region: str,
         now: dt.datetime) -> MandateRow:
    state = state_of(m, now)
    clear = masking.identity(actor.role if actor else None,
                             own=is_own_household(actor, household)).names
    if actor is not None and actor.id == m.proxy_id and state is not State.in_force:
        clear = False  # a proxy no longer (or not yet) acting for the household
    return MandateRow(m, state, scopes_of(m), proxy,
                      household.name if clear else masking.mask_name(household.name), region)


def mandate_row(session: Session, actor: User | None, mandate_id: int, purpose: str = "view"
                ) -> MandateRow:
    """One mandate as :func:`mandates_for` shows it ("not found" for what the actor may not
    reach, the denial logged)."""
    m = get_mandate_for(session, actor, mandate_id, purpose)
    proxy, household = session.get(User, m.proxy_id), session.get(Subject, m.subject_id)
    assert proxy is not None and household is not None  # foreign keys
    return _row(actor, m, proxy.display_name, household, household.region.name, utcnow())


def own_mandates(session: Session, actor: User) -> list[MandateRow]:
    """The household's own page (我的信用代理): every mandate it gave, in any state."""
    require(actor, "mandate", "own")
    if actor.subject_id is None:
        return []
    return mandates_for(session, actor, purpose="own", household_id=actor.subject_id)


def held_mandates(session: Session, actor: User) -> list[MandateRow]:
    """The proxy's own page (我代理的农户): the mandates given to them."""
    return mandates_for(session, actor, purpose="held")


# -- what the officer chooses from ------------------------------------------------------------------
@dataclass(frozen=True)
class Choice:
    id: int
    name: str
    detail: str


def households_to_record(session: Session, actor: User, q: str, limit: int = 20
                         ) -> list[Choice]:
    """Households of the officer's place whose name or household number matches ``q``."""
    require(actor, "mandate", "record")
    text = q.strip()
    if not text:
        return []
    stmt = sa.select(Subject, Region.name).join(Region, Region.code == Subject.region_code).where(
        Subject.kind == "household",
        sa.or_(Subject.name.contains(text, autoescape=True), Subject.household_no == text))
    rows = session.execute(scope_subjects(stmt, actor).order_by(Subject.id).limit(limit)).all()
    clear = masking.identity(actor.role).names
    return [Choice(s.id, s.name if clear else masking.mask_name(s.name),
                   f"{region} · {s.household_no or ''}") for s, region in rows
            if reaches_values(actor, "mandate", "record", region=s.region_code)]


def proxies_to_choose(session: Session, actor: User) -> list[Choice]:
    """Active users who hold mandates and work in the officer's place: inside it, or at a level
    above it (a township's proxy for a village officer)."""
    require(actor, "mandate", "record")
    roles = [r.value for r in Role if holds_mandates(r)]
    above = _regions_above(session, actor.region_code)
    stmt = (sa.select(User, Region.name).join(Region, Region.code == User.region_code)
            .where(User.role.in_(roles), User.is_active.is_(True),
                   sa.or_(User.region_code.startswith(region_prefix(actor), autoescape=True),
                          User.region_code.in_(above)))
            .order_by(User.display_name, User.id))
    return [Choice(u.id, u.display_name, region) for u, region in session.execute(stmt)]


def _regions_above(session: Session, code: str) -> list[str]:
    found: list[str] = []
    parent = session.scalar(sa.select(Region.parent_code).where(Region.code == code))
    while parent and parent not in found:
        found.append(parent)
        parent = session.scalar(sa.select(Region.parent_code).where(Region.code == parent))
    return found
