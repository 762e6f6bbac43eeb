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
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.accounts.models import ProxyMandate, User
from ctown.errors import DomainError
from ctown.lending import grants, loans, service, workdays
from ctown.lending.approval import Action
from ctown.lending.decision import Request
from ctown.lending.models import LoanApplication, Transition, VillageGrant
from ctown.registry.models import Subject
from ctown.scoring.models import GradeRecord
from ctown.settings import Settings

HISTORY = 30


def _user(session: Session, username: str) -> User | None:
    return session.scalar(sa.select(User).where(User.username == username))


def _graded(session: Session, village: str, grades: tuple[str, ...], limit: int) -> list[int]:
    stmt = (sa.select(Subject.id).join(GradeRecord, GradeRecord.subject_id == Subject.id)
            .where(Subject.kind == "household", Subject.region_code == village,
                   GradeRecord.is_current.is_(True), GradeRecord.grade.in_(grades))
            .order_by(Subject.id).limit(limit))
    return list(session.scalars(stmt))


def build(session: Session, settings: Settings, workdir: Path) -> None:
    users = {n: _user(session, n) for n in ("village", "village2", "township", "bank",
                                            "farmer", "proxy", "insurer")}
    village, bank = users["village"], users["bank"]
    if village is None or bank is None or users["township"] is None:
        return
    if session.scalar(sa.select(VillageGrant.id).where(
            VillageGrant.village_code == village.region_code).limit(1)) is not None:
        return
    grants.grant(session, bank, village.region_code, "rcb_credit")
    _history(session, users)
    _waiting(session, users)
    loans.assess_all(session, bank)


def _apply(session: Session, actor: User, subject_id: int, product: str, req: Request
           ) -> LoanApplication | None:
    try:
        app, _decision = service.apply(session, actor, subject_id=subject_id,
                                       product_code=product, req=req, purpose="春耕备肥")
    except DomainError:
        return None
    return app


def _waiting(session: Session, users: dict[str, User | None]) -> None:
    """Applications in flight: one in each review queue, and a refusal put before a person."""
    farmer, proxy, village = users["farmer"], users["proxy"], users["village"]
    assert village is not None
    if farmer is not None and farmer.subject_id is not None:
        app = _apply(session, farmer, farmer.subject_id, "rcb_credit",
                     Request(Decimal("50000"), 12, "equal_instalment"))
        if app is not None and app.state == "declined":  # e.g. an elderly household head
            service.act(session, farmer, app.id, Action.request_review)
        elif app is not None:
            _to_bank(session, users, app)
    if proxy is not None:
        mandated = session.scalar(sa.select(ProxyMandate.subject_id).where(
            ProxyMandate.proxy_id == proxy.id).limit(1))
        if mandated is not None:
            _apply(session, proxy, mandated, "rcb_credit",
                   Request(Decimal("30000"), 12, "interest_first"))
    # The village officer files for a villager; it waits for the bank's final review.
    for hid in reversed(_graded(session, village.region_code, ("A1", "A2", "B1"), 200)):
        app = _apply(session, village, hid, "rcb_credit",
                     Request(Decimal("40000"), 24, "equal_instalment"))
        if app is not None and app.state == "submitted":
            _to_bank(session, users, app)
            break


def _to_bank(session: Session, users: dict[str, User | None], app: LoanApplication) -> None:
    service.act(session, users["village"], app.id, Action.village_approve)  # type: ignore[arg-type]
    service.act(session, users["township"], app.id, Action.township_approve)  # type: ignore[arg-type]


def _history(session: Session, users: dict[str, User | None]) -> None:
    rng = random.Random(20261124)  # noqa: S311 - demo data, not secrets
    today = workdays.local_date(dt.datetime.now(dt.UTC))
    officers = [u for u in (users["village"], users["village2"]) if u is not None]
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
            if app is None or app.state != "submitted":
                continue
            # The first (insured) loan fell behind recently: special mention, for the insurer.
            disbursed = today - dt.timedelta(days=100 if made == 0 else rng.randrange(60, 240))
            _walk_backdated(session, users, app, disbursed, rng.choice((0, 1, 1, 2, 2, 3, 5)))
            loan = loans.disburse(session, users["bank"], app.id, on=disbursed)  # type: ignore[arg-type]
            late = made == 0 or rng.random() < 0.04
            for inst in loan.instalments:
                if inst.due_on >= today or (late and inst.number >= 2):
                    break
                loans.repay(session, users["bank"], loan.id,  # type: ignore[arg-type]
                            inst.principal + inst.interest,
                            paid_on=inst.due_on - dt.timedelta(days=rng.randrange(0, 5)))
            made += 1


def _walk_backdated(session: Session, users: dict[str, User | None], app: LoanApplication,
                    disbursed: dt.date, days: int) -> None:
    """The four steps, then the times moved back to before the disbursement (for the figures)."""
    for who, action in (("village", Action.village_approve), ("township",
                                                               Action.township_approve),
                        ("bank", Action.bank_approve)):
        actor = users[who] if who != "village" else session.get(User, app.submitted_by)
        service.act(session, actor, app.id, action)  # type: ignore[arg-type]
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
