"""The four-step approval (四级审批) as one state machine: every transition is decided here.

farmer application (申请) → village preliminary review (村级初审) → township review (乡镇审核)
→ bank final review (银行终审). Pure: it takes what it needs about the application, its history
and the acting person, and either returns the next state or raises :class:`IllegalTransition` with a
reason a person can read. The service records the transition (who, when, why) in the same
transaction; nothing else changes an application's state.

Rules enforced here, and only here:
- no step skipped: each review action is allowed only in the state that waits for it;
- the reviewer has the right role *and* place (:data:`REVIEW_STEPS`, :data:`REVIEWER_PLACE`): the
  village officer of the applicant's village, the township officer of its township, a bank
  officer of the product's bank;
- no one approves twice: a person who already approved a step of this application cannot approve
  another one;
- no self-approval and no relatives: a reviewer whose own household (户) is the applicant, or who
  belongs to the applicant's household, cannot review it;
- returned (退回) and rejected (否决) need a reason; a returned application can be corrected and
  resubmitted (it starts again at the village step).
- an automated refusal (自动决策未通过) can be put before a person (个人信息保护法 第24条): the
  applicant asks, a bank officer decides (uphold → rejected, overturn → enters the four steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from ctown.accounts.roles import ROLE_LABELS, Role
from ctown.i18n import Message, _


class State(StrEnum):
    declined = "declined"                  # automated decision: not eligible
    review_requested = "review_requested"  # applicant asked for a human review of the refusal
    submitted = "submitted"                # waiting for the village preliminary review
    village_approved = "village_approved"  # waiting for the township review
    township_approved = "township_approved"  # waiting for the bank final review
    approved = "approved"                  # bank approved: a loan contract can be signed
    returned = "returned"                  # sent back to the applicant for correction
    rejected = "rejected"
    withdrawn = "withdrawn"
    disbursed = "disbursed"                # the loan was paid out


class Action(StrEnum):
    submit = "submit"
    resubmit = "resubmit"
    withdraw = "withdraw"
    request_review = "request_review"
    village_approve = "village_approve"
    township_approve = "township_approve"
    bank_approve = "bank_approve"
    return_ = "return"
    reject = "reject"
    uphold = "uphold"          # human review confirms the automated refusal
    overturn = "overturn"      # human review lets the application into the four steps
    disburse = "disburse"


STATE_LABELS = {
    State.declined: _("自动决策未通过"), State.review_requested: _("已申请人工复核"),
    State.submitted: _("待村级初审"), State.village_approved: _("待乡镇审核"),
    State.township_approved: _("待银行终审"), State.approved: _("已批准"),
    State.returned: _("已退回"), State.rejected: _("已否决"), State.withdrawn: _("已撤回"),
    State.disbursed: _("已放款"),
}

ACTION_LABELS = {
    Action.submit: _("提交申请"), Action.resubmit: _("修改后重新提交"), Action.withdraw: _("撤回"),
    Action.request_review: _("申请人工复核"), Action.village_approve: _("村级初审通过"),
    Action.township_approve: _("乡镇审核通过"), Action.bank_approve: _("银行终审通过"),
    Action.return_: _("退回"), Action.reject: _("否决"), Action.uphold: _("复核维持原决定"),
    Action.overturn: _("复核改为受理"), Action.disburse: _("放款"),
}

#: Which role reviews in which state, and where the approval leads.
REVIEW_STEPS: dict[State, tuple[Role, Action, State]] = {
    State.submitted: (Role.village_officer, Action.village_approve, State.village_approved),
    State.village_approved: (Role.township_officer, Action.township_approve,
                             State.township_approved),
    State.township_approved: (Role.bank_officer, Action.bank_approve, State.approved),
}
#: Who decides a human review of an automated refusal, and who pays out an approved loan.
REVIEWER_OF_REFUSAL = DISBURSER = Role.bank_officer
#: Where a reviewer belongs: (attribute of the application, the same place of the officer).
REVIEWER_PLACE: dict[Role, tuple[str, str]] = {
    Role.village_officer: ("village_code", "region_code"),
    Role.township_officer: ("township_code", "region_code"),
    Role.bank_officer: ("bank_code", "bank_code"),
}
APPROVALS = frozenset(a for _r, a, _s in REVIEW_STEPS.values()) | {Action.overturn}
#: Applications still waiting for someone to act (the 3-working-day clock runs).
OPEN_STATES = frozenset({State.submitted, State.village_approved, State.township_approved,
                         State.review_requested})


class IllegalTransition(Exception):
    def __init__(self, message: Message) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class Actor:
    user_id: int
    role: Role
    region_code: str
    bank_code: str | None = None
    #: The household (户) the person belongs to, if they are a registered villager.
    household_id: int | None = None
    #: May they act for this application's subject (the access layer's "act_for": the household,
    #: its proxy under a mandate in force, the village officer)?
    acts_for_applicant: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "role", Role(self.role))


@dataclass(frozen=True)
class Application:
    state: State
    village_code: str
    township_code: str
    bank_code: str
    #: The household or entity applying.
    subject_id: int
    #: Its household (the subject itself for a household; for an entity, its legal
    #: representative's household, when known).
    household_id: int | None


@dataclass(frozen=True)
class Step:
    """One recorded transition of the history."""

    action: Action
    actor_id: int


def _refuse(msgid: str, **params: object) -> IllegalTransition:
    return IllegalTransition(Message(msgid, dict(params)))


#: Actions that start a new round of review (approvals before them no longer count).
_ROUND_STARTS = frozenset({Action.submit, Action.resubmit, Action.overturn})


def current_round(history: Sequence[Step]) -> Sequence[Step]:
    starts = [i for i, s in enumerate(history) if s.action in _ROUND_STARTS]
    return history[starts[-1]:] if starts else history


def reviewer_of(state: State) -> Role | None:
    """Who must act next on an application in ``state`` (none when it waits for no officer)."""
    if state == State.review_requested:
        return REVIEWER_OF_REFUSAL
    step = REVIEW_STEPS.get(state)
    return step[0] if step else None


def waiting_for(role: Role | str) -> frozenset[State]:
    """The states in which applications wait for an officer of ``role`` (their review queue)."""
    return frozenset(s for s in OPEN_STATES if reviewer_of(s) == role)


def _check_reviewer(app: Application, actor: Actor, role: Role, history: Sequence[Step]) -> None:
    if actor.role != role:
        raise _refuse(_("此步骤须由{role}办理"), role=ROLE_LABELS[role])
    app_place, officer_place = REVIEWER_PLACE[role]
    if getattr(actor, officer_place) != getattr(app, app_place):
        raise _refuse(_("您不负责该申请所在的村、乡镇或银行"))
    if actor.household_id is not None and actor.household_id in (app.subject_id, app.household_id):
        raise _refuse(_("本人或同户亲属的申请须回避，不能由您审批"))
    # A resubmitted application is reviewed afresh; within one round nobody approves twice.
    if any(s.actor_id == actor.user_id and s.action in APPROVALS for s in current_round(history)):
        raise _refuse(_("同一人不能审批同一申请的两个步骤"))


def _need_reason(action: Action, reason: str | None) -> None:
    if action in (Action.return_, Action.reject, Action.uphold) and not (reason or "").strip():
        raise _refuse(_("退回或否决必须说明理由"))


def next_state(app: Application, actor: Actor, action: Action, history: Sequence[Step] = (),
               reason: str | None = None) -> State:
    """The state after ``action`` by ``actor``, or :class:`IllegalTransition` saying why not."""
    _need_reason(action, reason)
    state = app.state
    if action in (Action.resubmit, Action.withdraw, Action.request_review):
        return _applicant_action(state, actor, action)
    if action in (Action.uphold, Action.overturn):
        if state != State.review_requested:
            raise _refuse(_("当前状态“{state}”下不能进行人工复核"), state=STATE_LABELS[state])
        _check_reviewer(app, actor, REVIEWER_OF_REFUSAL, history)
        return State.rejected if action == Action.uphold else State.submitted
    if action == Action.disburse:
        if state != State.approved:
            raise _refuse(_("只有已批准的申请才能放款"))
        _check_reviewer(app, actor, DISBURSER, ())
        return State.disbursed
    step = REVIEW_STEPS.get(state)
    if step is None:
        raise _refuse(_("当前状态“{state}”下不能审批"), state=STATE_LABELS[state])
    role, approve, target = step
    if action not in (approve, Action.return_, Action.reject):
        raise _refuse(_("不能跳过审批步骤：当前应由{role}办理"), role=ROLE_LABELS[role])
    _check_reviewer(app, actor, role, history)
    return {approve: target, Action.return_: State.returned, Action.reject: State.rejected}[action]


def _applicant_action(state: State, actor: Actor, action: Action) -> State:
    if not actor.acts_for_applicant:
        raise _refuse(_("只有申请人或其授权代理人可以这样做"))
    if action == Action.resubmit and state == State.returned:
        return State.submitted
    if action == Action.request_review and state == State.declined:
        return State.review_requested
    if action == Action.withdraw and state in OPEN_STATES | {State.returned, State.declined}:
        return State.withdrawn
    raise _refuse(_("当前状态“{state}”下不能{action}"), state=STATE_LABELS[state],
                  action=ACTION_LABELS[action])


#: The actions a page offers, in the order it shows them.
_OFFERED = (Action.village_approve, Action.township_approve, Action.bank_approve,
            Action.overturn, Action.return_, Action.reject, Action.uphold, Action.resubmit,
            Action.request_review, Action.withdraw, Action.disburse)


def allowed_actions(app: Application, actor: Actor, history: Sequence[Step] = ()
                    ) -> list[Action]:
    """What ``actor`` may do now with ``app`` (the buttons of its page): every action the machine
    would accept, a reason given where one is needed."""
    out = []
    for action in _OFFERED:
        try:
            next_state(app, actor, action, history, reason="-")
        except IllegalTransition:
            continue
        out.append(action)
    return out
