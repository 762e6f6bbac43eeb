"""Demo data of financial services (``ctown demo``): something to see for every role.

- the bank has granted the first village's households credit lines (整村授信, printable list);
- the farmer's application waits for the bank's final review, the proxy's for the village,
  a refused application for a human review (PIPL art. 24);
- about thirty loans of the past months in the first two villages, repaid on time mostly, a few
  overdue (so the figures show an NPL ratio and approval times), one insured loan in default
  that the insurer can compensate.

Idempotent: if the first village already has a grant, everything is there and nothing is added.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.access import rules
from ctown.accounts.models import User
from ctown.accounts.roles import Role
from ctown.capabilities import DemoContext
from ctown.errors import DomainError
from ctown.lending import grants, loans, service, workdays
from ctown.lending.approval import Action, State
from ctown.lending.decision import Request
from ctown.lending.models import LoanApplication, Transition, VillageGrant
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord

HISTORY = 30


@dataclass(frozen=True)
class _Cast:
    """The demo accounts lending needs, by role: the officers of the first two villages, their
    township, the bank, the farmer, the proxy."""

    villages: list[User]  # first village first
    township: User
    bank: User
    farmer: User | None
    proxy: User | None

    @classmethod
    def of(cls, session: Session, ctx: DemoContext) -> _Cast | None:
        villages = ctx.users_of(session, Role.village_officer)[:2]
        township = ctx.user(session, Role.township_officer)
        bank = ctx.user(session, Role.bank_officer)
        if not villages or township is None or bank is None:
            return None
        return cls(villages, township, bank, ctx.user(session, Role.farmer),
                   ctx.user(session, Role.credit_proxy))

    @property
    def village(self) -> User:
        return self.villages[0]


def _graded(session: Session, village: str, grades: tuple[str, ...], limit: int) -> list[int]:
    stmt = (sa.select(Subject.id).join(GradeRecord, GradeRecord.subject_id == Subject.id)
            .where(Subject.kind == "household", Subject.region_code == village,
                   GradeRecord.is_current.is_(True), GradeRecord.grade.in_(grades))
            .order_by(Subject.id).limit(limit))
    return list(session.scalars(stmt))


def build(session: Session, ctx: DemoContext) -> None:
    cast = _Cast.of(session, ctx)
    if cast is None:
        return
    if session.scalar(sa.select(VillageGrant.id).where(
            VillageGrant.village_code == cast.village.region_code).limit(1)) is not None:
        return
    grants.grant(session, cast.bank, cast.village.region_code, "rcb_credit")
    _history(session, cast)
    _waiting(session, cast)
    loans.assess_all(session, cast.bank)


def _apply(session: Session, actor: User, subject_id: int, product: str, req: Request
           ) -> LoanApplication | None:
    try:
        app, _decision = service.apply(session, actor, subject_id=subject_id,
                                       product_code=product, req=req, purpose="春耕备肥")
    except DomainError:
        return None
    return app


def _waiting(session: Session, cast: _Cast) -> None:
    """Applications in flight: one in each review queue, and a refusal put before a person."""
    farmer, proxy, village = cast.farmer, cast.proxy, cast.village
    if farmer is not None and farmer.subject_id is not None:
        app = _apply(session, farmer, farmer.subject_id, "rcb_credit",
                     Request(Decimal("50000"), 12, "equal_instalment"))
        if app is not None and app.state == State.declined:  # e.g. an elderly household head
            service.act(session, farmer, app.id, Action.request_review)
        elif app is not None:
            _to_bank(session, cast, app)
    if proxy is not None:
        mandated = session.scalar(rules.mandated_subjects(proxy.id).limit(1))
        if mandated is not None:
            _apply(session, proxy, mandated, "rcb_credit",
                   Request(Decimal("30000"), 12, "interest_first"))
    # The village officer files for a villager; it waits for the bank's final review.
    for hid in reversed(_graded(session, village.region_code, ("A1", "A2", "B1"), 200)):
        app = _apply(session, village, hid, "rcb_credit",
                     Request(Decimal("40000"), 24, "equal_instalment"))
        if app is not None and app.state == State.submitted:
            _to_bank(session, cast, app)
            break


def _to_bank(session: Session, cast: _Cast, app: LoanApplication) -> None:
    service.act(session, cast.village, app.id, Action.village_approve)
    service.act(session, cast.township, app.id, Action.township_approve)


def _history(session: Session, cast: _Cast) -> None:
    rng = random.Random(20261124)  # noqa: S311 - demo data, not secrets
    today = workdays.local_date(dt.datetime.now(dt.UTC))
    officers = cast.villages
    products = ["rcb_credit"] * 5 + ["rcb_collateral", "rcb_supply_chain", "rcb_insured"]
    made = 0
    for officer in officers:
        for hid in _graded(session, officer.region_code, ("A1", "A2", "B1", "B2", "C1"),
                           HISTORY // len(officers) + 3):
            if made >= HISTORY:
                return
            product = "rcb_insured" if made == 0 else rng.choice(products)
            req = Request(Decimal(rng.randrange(10, 80) * 1000), 12, "equal_instalment",
                          "large_machinery", Decimal("150000"), Decimal("100000"))
            app = _apply(session, officer, hid, product, req)
            if app is None or app.state != State.submitted:
                continue
            # The first (insured) loan fell behind recently: special mention, for the insurer.
            disbursed = today - dt.timedelta(days=100 if made == 0 else rng.randrange(60, 240))
            _walk_backdated(session, cast, app, disbursed, rng.choice((0, 1, 1, 2, 2, 3, 5)))
            loan = loans.disburse(session, cast.bank, app.id, on=disbursed)
            late = made == 0 or rng.random() < 0.04
            for inst in loan.instalments:
                if inst.due_on >= today or (late and inst.number >= 2):
                    break
                loans.repay(session, cast.bank, loan.id,
                            inst.principal + inst.interest,
                            paid_on=inst.due_on - dt.timedelta(days=rng.randrange(0, 5)))
            made += 1


def _walk_backdated(session: Session, cast: _Cast, app: LoanApplication,
                    disbursed: dt.date, days: int) -> None:
    """The four steps, then the times moved back to before the disbursement (for the figures)."""
    officer = session.get(User, app.submitted_by)  # the village officer who filed it
    assert officer is not None
    for actor, action in ((officer, Action.village_approve),
                          (cast.township, Action.township_approve),
                          (cast.bank, Action.bank_approve)):
        service.act(session, actor, app.id, action)
    start = dt.datetime.combine(disbursed - dt.timedelta(days=days + 3), dt.time(1, 30),
                                tzinfo=dt.UTC)
    approved = dt.datetime.combine(workdays.add_working_days(
        start.date(), days, allow_estimate=True).day, dt.time(7, 0), tzinfo=dt.UTC)
    app.created_at = app.submitted_at = start
    app.finished_at = approved
    app.due_on = workdays.add_working_days(start.date(), 3, allow_estimate=True).day
    steps = session.scalars(sa.select(Transition).where(Transition.application_id == app.id)
                            .order_by(Transition.id)).all()
    for i, step in enumerate(steps):
        step.at = start + (approved - start) * i / max(len(steps) - 1, 1)
