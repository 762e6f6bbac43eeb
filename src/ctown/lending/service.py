"""Applications (贷款申请): the instant decision and the four-step approval, as service functions
``(session, actor, …)``. Every state change goes through :func:`act`, which asks
:mod:`ctown.lending.approval` and records the transition, its notices and its change event in the
caller's transaction (committed once at the request or CLI boundary)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any, Protocol, TypeVarTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased
from sqlalchemy.orm.exc import StaleDataError

from ctown.access import rules
from ctown.access.looks import record_look
from ctown.access.policy import Reach, reaches
from ctown.access.scope import (
    SUBJECTS,
    Actor,
    allowed,
    get_for,
    log_denied,
    reaches_row,
    scope,
    visible,
    visible_subjects,
)
from ctown.accounts.models import User
from ctown.accounts.roles import ROLE_LABELS, Role
from ctown.db import storable_int, utcnow
from ctown.errors import Conflict, Forbidden, Invalid, NotFound
from ctown.i18n import Message, _
from ctown.lending import approval, credit_file, notices, workdays
from ctown.lending.access import APPLICATIONS
from ctown.lending.approval import Action, State
from ctown.lending.decision import Decision, Facts, Request, age_on, decide
from ctown.lending.models import LoanApplication, Transition
from ctown.lending.products import Product, get_product
from ctown.registry.models import ChangeEvent, Region, Subject
from ctown.registry.service import change_record
from ctown.scoring.models import GradeRecord

Ts = TypeVarTuple("Ts")

#: The channel an application came through (``LoanApplication.channel``), by the filer's role.
CHANNELS: dict[Role, str] = {Role.farmer: "farmer", Role.credit_proxy: "credit_proxy",
                             Role.village_officer: "village_officer"}
#: The channels in words (the application's page); another filer's role shows as its role label.
CHANNEL_LABELS: dict[str, str] = {**{role.value: label for role, label in ROLE_LABELS.items()},
                                  "farmer": _("农户本人申请"), "credit_proxy": _("信用代理员代办"),
                                  "village_officer": _("村信息员代填")}
#: The purpose of the query-log entry of an application opened by others (the farmer's page).
LOOK_PURPOSE = "application"


@dataclass(frozen=True)
class SubjectRef:
    """The columns of a subject that lending needs (no ORM entity: loading one also loads its
    household members, which the hot path does not need)."""

    id: int
    kind: str
    region_code: str
    household_id: int | None


@dataclass(frozen=True)
class Applicant:
    subject: SubjectRef
    facts: Facts
    village_code: str
    township_code: str
    household_id: int | None
    #: May the actor file for this subject (the access layer's "act_for")?
    acts_for: bool = False


def product_or_404(code: str) -> Product:
    product = get_product(code)
    if product is None:
        raise NotFound(Message(_("没有代码为 {code} 的产品"), {"code": code}))
    return product


def household_of(session: Session, subject_id: int | None) -> int | None:
    """The household (户) a subject belongs to: itself for a household, its household for a
    person, none for an entity or collective."""
    if subject_id is None:
        return None
    row = session.execute(sa.select(Subject.kind, Subject.household_id)
                          .where(Subject.id == subject_id)).first()
    if row is None:
        return None
    return subject_id if row.kind == "household" else row.household_id


@lru_cache(maxsize=1)
def _facts_query() -> sa.Select[int, str, str, int | None, str | None, dt.date | None, str | None,
                                 bool]:
    """Subject, township, head's birth date, current grade and punishment flag in ONE query
    (the instant decision is the hot path)."""
    head = aliased(Subject)
    # OR of equalities rather than IN: an IN list is an "expanding" parameter that SQLAlchemy
    # re-renders into the SQL text on every execution (a third of this query's CPU).
    birth = (sa.select(head.birth_date).where(head.household_id == Subject.id,
                                              sa.or_(*(head.relation == r
                                                       for r in rules.HEAD_RELATIONS)))
             .limit(1).scalar_subquery())
    grade = (sa.select(GradeRecord.grade).where(GradeRecord.subject_id == Subject.id,
                                                GradeRecord.is_current.is_(True))
             .order_by(GradeRecord.id.desc()).limit(1).scalar_subquery())
    return (sa.select(Subject.id, Subject.kind, Subject.region_code, Subject.household_id,
                      Region.parent_code, birth, grade, credit_file.punished_flag(Subject.id))
            .join(Region, Region.code == Subject.region_code))


def load_applicant(session: Session, actor: Actor, subject_id: int, today: dt.date) -> Applicant:
    """The applicant as the actor may see it (scope), with what the decision needs and whether
    the actor may file for it — in the same query."""
    if not storable_int(subject_id):  # no subject's id, as in access.scope.get_for
        raise NotFound()
    stmt = (_facts_query().add_columns(visible(SUBJECTS, actor, "act_for"))
            .where(Subject.id == subject_id, visible_subjects(actor)))
    row = session.connection().execute(stmt).first()  # Core: plain columns, no ORM context
    if row is None:
        if session.get(Subject, subject_id) is not None:
            log_denied(session, actor, f"subject {subject_id}: view")
        raise NotFound()
    sid, kind, region, household, township, birth, grade, punished, acting = row
    subject = SubjectRef(sid, kind, region, household)
    if subject.kind not in ("household", "entity"):
        raise Invalid(Message(_("只有农户或经营主体可以申请贷款")))
    facts = Facts(kind=subject.kind, region_code=subject.region_code, grade=grade,
                  age=age_on(birth, today) if subject.kind == "household" else None,
                  punished=bool(punished))
    return Applicant(subject, facts, subject.region_code, township or subject.region_code,
                     subject.id if subject.kind == "household" else None, bool(acting))


def acts_for(session: Session, actor: Actor, subject_id: int) -> bool:
    """May this person file or manage an application for the subject? The household itself, its
    proxy under a mandate still in force (not expired, not revoked), the village officer."""
    return reaches_row(session, actor, SUBJECTS, subject_id, "act_for")


def may_apply(actor: Actor) -> bool:
    """Does the person file applications at all (for their household or for others)?"""
    return allowed(actor, "subject", "act_for")


def apply_form_for(actor: Actor) -> int | None:
    """The application form: refused (403) to a role that never files (a merchant, an insurer,
    a bank, the county's oversight, a department feed), as the filing itself is; the household
    it is for when the form names none (:func:`default_subject`)."""
    if not may_apply(actor):
        raise Forbidden(Message(_("您的角色不能提交贷款申请")))
    return default_subject(actor)


def default_subject(actor: Actor) -> int | None:
    """Whom a form that names no applicant is for: the person's own household, for those who
    act for it as themselves (the farmer); nobody for those who file for others."""
    if Reach.self in reaches("subject", "act_for", actor.role):
        return actor.subject_id
    return None


def _reasons(decision: Decision) -> list[dict[str, str]]:
    return [dict(_both(m.msgid, tuple(m.params.items()))) for m in decision.reasons]


@lru_cache(maxsize=4096)
def _both(msgid: str, params: tuple[tuple[str, object], ...]) -> dict[str, str]:
    # Few distinct reasons (grade × limit × rate …): render each in zh and en once.
    return Message(msgid, dict(params)).both()


@dataclass(frozen=True)
class Filed:
    """An application as it was filed: its id, the column values written and the decision.

    The instant decision is the platform's hot path: it writes with Core inserts of plain dicts
    (no ORM object, no unit-of-work flush), so what it filed is handed back as the values."""

    id: int
    values: dict[str, Any]
    decision: Decision

    def __getattr__(self, name: str) -> Any:  # app.state, app.due_on… like the ORM row
        try:
            return self.values[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def file_application(session: Session, actor: Actor, *, subject_id: int | None,
                     product_code: str, req: Request, purpose: str | None = None,
                     today: dt.date | None = None) -> Filed:
    """File an application and decide at once (eligibility, offer, pre-approval): one query for
    the applicant, the decision in memory, then Core inserts of the application, its transition,
    its change event and its notices in the caller's transaction.

    ``subject_id`` None: the actor's own household (:func:`default_subject`)."""
    if not may_apply(actor):
        raise Forbidden(Message(_("您的角色不能提交贷款申请")))
    subject_id = subject_id or default_subject(actor)
    if subject_id is None:
        raise Invalid(Message(_("请指定申请主体")))
    product = product_or_404(product_code)
    now = utcnow()
    today = today or workdays.local_date(now)
    who = load_applicant(session, actor, subject_id, today)
    subject = who.subject
    if not who.acts_for:
        log_denied(session, actor, f"subject {subject_id}: act_for (lending apply)")
        raise Forbidden(Message(_("您没有代该主体申请的授权")))
    decision = decide(product, who.facts, req, today)
    offer = decision.offer
    values: dict[str, Any] = {
        "subject_id": subject.id, "product_code": product.code,
        "product_version": product.version, "bank_code": product.bank_code,
        "village_code": who.village_code, "township_code": who.township_code,
        "channel": CHANNELS.get(Role(actor.role), str(actor.role)), "submitted_by": actor.id,
        "amount_requested": req.amount, "term_months": req.term_months, "method": req.method,
        "purpose": purpose, "collateral_type": req.collateral_type,
        "collateral_value": req.collateral_value, "contract_amount": req.contract_amount,
        "state": State.submitted.value if decision.eligible else State.declined.value,
        "grade": who.facts.grade, "eligible": decision.eligible,
        "preapproved": decision.preapproved,
        "offer_limit": offer.limit if offer else None,
        "offer_amount": offer.amount if offer else None,
        "offer_rate_pct": offer.rate_pct if offer else None,
        "guarantor_required": bool(offer and offer.guarantor_required),
        "reasons": _reasons(decision), "created_at": now,
        "submitted_at": None, "due_on": None, "due_estimated": False}
    if decision.eligible:
        due = _due_after(workdays.local_date(now))
        values.update(submitted_at=now, due_on=due.day, due_estimated=due.estimated)
    conn = session.connection()
    key = conn.execute(LoanApplication.__table__.insert(), values).inserted_primary_key
    assert key is not None  # typed Optional; a single-row INSERT always has its key
    filed = Filed(key[0], values, decision)
    _record(session, filed, actor, Action.submit, None, values["state"], None, now)
    _notify_decision(session, filed)
    return filed


def apply(session: Session, actor: User, *, subject_id: int | None, product_code: str,
          req: Request, purpose: str | None = None, today: dt.date | None = None
          ) -> tuple[LoanApplication, Decision]:
    """File an application and decide at once; returns the stored application (ORM, for pages,
    the demo and tests — the API answers from :func:`file_application` without loading it)."""
    filed = file_application(session, actor, subject_id=subject_id, product_code=product_code,
                             req=req, purpose=purpose, today=today)
    app = session.get(LoanApplication, filed.id)
    assert app is not None
    return app, filed.decision


@lru_cache(maxsize=64)
def _due_after(day: dt.date) -> workdays.WorkdayResult:
    # The holiday calendar is fixed data: the deadline of a day is the same all day long.
    return workdays.add_working_days(day, 3, allow_estimate=True)


def _start_clock(app: LoanApplication, now: dt.datetime) -> None:
    due = _due_after(workdays.local_date(now))
    app.submitted_at, app.due_on, app.due_estimated = now, due.day, due.estimated


class _AppLike(Protocol):
    """What the history and the notices read of an application: a stored row or one just filed
    (:class:`Filed`, frozen), so read-only."""

    @property
    def id(self) -> int: ...
    @property
    def subject_id(self) -> int: ...
    @property
    def product_code(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def preapproved(self) -> bool: ...
    @property
    def offer_amount(self) -> Decimal | None: ...
    @property
    def village_code(self) -> str: ...
    @property
    def township_code(self) -> str: ...
    @property
    def bank_code(self) -> str: ...
    @property
    def due_on(self) -> dt.date | None: ...


def _record(session: Session, app: _AppLike, actor: Actor, action: Action,
            before: str | None, after: str, reason: str | None, now: dt.datetime) -> None:
    """The history row and its change event (Core inserts of plain dicts: no ORM flush)."""
    conn = session.connection()
    conn.execute(Transition.__table__.insert(), {
        "application_id": app.id, "action": action.value, "from_state": before,
        "to_state": after, "actor_id": actor.id, "actor_role": actor.role, "at": now,
        "reason": reason})
    conn.execute(ChangeEvent.__table__.insert(), change_record(
        actor=actor, source="lending", action=action.value, entity="loan_application",
        subject_id=app.subject_id, payload={"application": app.id, "from": before, "to": after,
                                            "reason": reason, "product": app.product_code}))


def _queue(session: Session, rows: list[dict[str, Any]]) -> None:
    """Notices into the outbox of the caller's transaction, sent after it commits (one Core
    executemany on the session's connection: this is the instant decision's hot path)."""
    notices.queue_many(session, rows)


def _notify_decision(session: Session, app: _AppLike) -> None:
    rows = [{"channel": "sms", "subject_id": app.subject_id, "application_id": app.id}]
    if app.state == State.declined:
        rows[0].update(msgid=_("您的贷款申请 {no} 未通过自动审核，原因可在平台查看；"
                               "如有异议可申请人工复核"), params={"no": app.id})
    else:
        rows[0].update(msgid=_("您的贷款申请 {no} 已预批准 {amount} 元，待村、乡镇、银行确认")
                       if app.preapproved else _("您的贷款申请 {no} 已受理，将在 3 个工作日内完成审批"),
                       params={"no": app.id, "amount": app.offer_amount})
        rows += _reviewer_notices(session, app)
    _queue(session, rows)


#: The officers of a role at a place (approval.REVIEWER_PLACE): who is told to act next.
_REVIEWERS = {role: sa.select(User.id).where(User.role == role, User.is_active,
                                              getattr(User, officer_place) == sa.bindparam("place"))
              for role, (_app_place, officer_place) in approval.REVIEWER_PLACE.items()}


def _reviewer_notices(session: Session, app: _AppLike,
                      msgid: str = _("贷款申请 {no} 等待您审批，期限 {due}"),
                      extra: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """In-app notices to whoever must act next (village, township or bank officers)."""
    role = approval.reviewer_of(State(app.state))
    if role is None:
        return []
    place = getattr(app, approval.REVIEWER_PLACE[role][0])
    params = {"no": str(app.id), "due": str(app.due_on), **(extra or {})}
    return [{"channel": "in_app", "user_id": uid, "application_id": app.id, "msgid": msgid,
             "params": params}
            for uid in session.connection().execute(_REVIEWERS[role], {"place": place}).scalars()]


def _notify_reviewers(session: Session, app: _AppLike,
                      msgid: str = _("贷款申请 {no} 等待您审批，期限 {due}"),
                      extra: dict[str, str] | None = None) -> None:
    _queue(session, _reviewer_notices(session, app, msgid, extra))


def scope_applications(stmt: sa.Select[*Ts], actor: User | None, purpose: str = "view"
                       ) -> sa.Select[*Ts]:
    """Restrict a select of applications to those the actor reaches for ``purpose``."""
    return scope(stmt, actor, APPLICATIONS, purpose)


def get_application_for(session: Session, actor: User | None, application_id: int,
                        purpose: str = "view") -> LoanApplication:
    """The application, or NotFound when the actor may not reach it (the denial logged)."""
    app: LoanApplication = get_for(session, actor, APPLICATIONS, application_id, purpose)
    return app


def open_application(session: Session, actor: User, application_id: int) -> LoanApplication:
    """The application opened to be read (its page, the API's detail), as
    :func:`get_application_for`; a look on the applicant's query log when the reader is not the
    household's own side (the bank, the officers, the county's oversight). One per request: the
    reads that serve an action do not count."""
    app = get_application_for(session, actor, application_id)
    subject = session.get(Subject, app.subject_id)
    if subject is not None:
        record_look(session, actor, subject, LOOK_PURPOSE)
    return app


def proxy_of(session: Session, app: LoanApplication) -> str | None:
    """The name of the credit proxy who filed the application (信用代理员代办), else None: the
    application's page says "由代理员 X 代办" (R-6.3, every act of a proxy shown by name)."""
    if app.channel != CHANNELS[Role.credit_proxy]:
        return None
    return session.scalar(sa.select(User.display_name).where(User.id == app.submitted_by))


def _machine_actor(session: Session, actor: User, app: LoanApplication) -> approval.Actor:
    return approval.Actor(user_id=actor.id, role=Role(actor.role), region_code=actor.region_code,
                          bank_code=actor.bank_code,
                          household_id=household_of(session, actor.subject_id),
                          acts_for_applicant=acts_for(session, actor, app.subject_id))


def _machine_app(session: Session, app: LoanApplication) -> approval.Application:
    return approval.Application(State(app.state), app.village_code, app.township_code,
                                app.bank_code, app.subject_id,
                                household_of(session, app.subject_id))


def _history(app: LoanApplication) -> list[approval.Step]:
    return [approval.Step(Action(t.action), t.actor_id or 0) for t in app.transitions]


def actions_for(session: Session, actor: User, app: LoanApplication) -> list[Action]:
    """What the actor may do now with this (visible) application: the buttons of its page."""
    if not reaches_row(session, actor, APPLICATIONS, app.id, "act"):
        return []
    return approval.allowed_actions(_machine_app(session, app),
                                    _machine_actor(session, actor, app), _history(app))


def act(session: Session, actor: User, application_id: int, action: Action | str,
        reason: str | None = None) -> LoanApplication:
    """Apply one step of the approval to an application (or refuse, saying why)."""
    app = get_application_for(session, actor, application_id)
    action = Action(action)
    if not reaches_row(session, actor, APPLICATIONS, app.id, "act"):
        log_denied(session, actor, f"loan application {app.id}: act")
        raise Forbidden(Message(_("您的角色无权执行此操作")))
    try:
        target = approval.next_state(_machine_app(session, app),
                                     _machine_actor(session, actor, app), action,
                                     _history(app), reason)
    except approval.IllegalTransition as exc:
        log_denied(session, actor, f"loan application {app.id}: {action.value}")
        raise Forbidden(exc.message) from exc
    now, before = utcnow(), app.state
    app.state = target.value
    if target == State.submitted:
        _start_clock(app, now)
    if target in (State.approved, State.rejected, State.withdrawn):
        app.finished_at = now
    _claim(session, app, before)
    _record(session, app, actor, action, before, app.state, (reason or "").strip() or None, now)
    # The ORM's list of transitions is stale after a Core insert: reload it when next read.
    session.expire(app, ["transitions"])
    session.flush()
    _notify_transition(session, app, action, reason)
    return app


def _claim(session: Session, app: LoanApplication, before: str) -> None:
    """Write the new state only if nobody changed the application since it was read (the
    version column): the second of two officers acting at once is told what happened."""
    try:
        session.flush()
    except StaleDataError:
        session.rollback()
        now_state = session.scalar(sa.select(LoanApplication.state).where(
            LoanApplication.id == app.id))
        raise Conflict(Message(_("该申请刚刚已被他人处理（状态由“{before}”变为“{now}”），"
                                 "您的操作未执行：请刷新后再看"),
                               {"before": approval.STATE_LABELS[State(before)],
                                "now": approval.STATE_LABELS[State(now_state or before)]})
                       ) from None


def _notify_transition(session: Session, app: LoanApplication, action: Action,
                       reason: str | None) -> None:
    label = approval.STATE_LABELS[State(app.state)]
    notices.queue(session, channel="sms", subject_id=app.subject_id, application_id=app.id,
                  msgid=_("您的贷款申请 {no}：{state}{why}"),
                  params={"no": app.id, "state": label,
                          "why": f"（{reason.strip()}）" if reason and reason.strip() else ""})
    if app.state in approval.OPEN_STATES:
        _notify_reviewers(session, app)


def review_queue(session: Session, actor: User) -> list[LoanApplication]:
    """What waits for this officer, oldest deadline first: applications the actor reaches to act
    on, in a state that waits for the actor's role (approval's rule of who reviews which step)."""
    waiting = approval.waiting_for(actor.role)
    if not waiting:
        return []
    stmt = scope_applications(sa.select(LoanApplication).where(
        LoanApplication.state.in_(sorted(waiting))), actor, "act")
    return list(session.scalars(stmt.order_by(LoanApplication.due_on, LoanApplication.id)
                                .limit(500)))


def list_applications(session: Session, actor: User, limit: int = 200) -> list[LoanApplication]:
    stmt = scope_applications(sa.select(LoanApplication), actor)
    return list(session.scalars(stmt.order_by(LoanApplication.id.desc()).limit(limit)))


def deadline(app: LoanApplication, today: dt.date | None = None) -> workdays.Deadline | None:
    if app.submitted_at is None or app.state not in approval.OPEN_STATES:
        return None
    today = today or workdays.local_date(utcnow())
    return workdays.deadline_for(workdays.local_date(app.submitted_at), today)


def deadline_reminders(session: Session, today: dt.date | None = None) -> int:
    """Warn the officers who must act on applications whose 3-working-day limit is about to run
    out or has run out (``ctown lending remind``, daily). One reminder per application a day."""
    today = today or workdays.local_date(utcnow())
    horizon = workdays.add_working_days(today, 1, allow_estimate=True).day
    open_apps = session.scalars(sa.select(LoanApplication).where(
        LoanApplication.state.in_([s.value for s in approval.OPEN_STATES]),
        LoanApplication.due_on <= horizon)).all()
    sent = 0
    for app in open_apps:
        dl = deadline(app, today)
        if dl is None or dl.status == "ok":
            continue
        msgid = (_("贷款申请 {no} 已超过审批期限 {due}，请立即办理") if dl.status == "overdue"
                 else _("贷款申请 {no} 的审批期限 {due} 即将到期，请及时办理"))
        already = session.scalar(sa.select(sa.func.count()).select_from(notices.Notice).where(
            *notices.about_application(app.id), notices.Notice.msgid == msgid,
            notices.Notice.params["day"].as_string() == today.isoformat()))
        if already:
            continue
        _notify_reviewers(session, app, msgid, {"day": today.isoformat()})
        sent += 1
    return sent


def money(value: Decimal | None) -> str:
    return "" if value is None else f"{value:,.2f}"
