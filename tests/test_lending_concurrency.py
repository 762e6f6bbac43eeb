"""Two officers acting on the same application at once (#12 item 8): one wins, the other is told
why, and the history holds one step — on both databases."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ctown.accounts.models import User
from ctown.db import make_engine, session_factory
from ctown.errors import Conflict, Forbidden
from ctown.lending import sample, service
from ctown.lending.approval import Action, State
from ctown.lending.decision import Request
from ctown.lending.models import LoanApplication, Transition


def _setup(url: str) -> tuple[sa.Engine, dict[str, int], int]:
    engine = make_engine(url)
    with session_factory(engine).begin() as session:
        county = sample.build(session)
        hid = county.households[sample.VILLAGE][0]
        app, _d = service.apply(session, county.users["farmer"], subject_id=hid,
                                product_code="rcb_credit",
                                req=Request(Decimal("50000"), 12, "equal_instalment"))
        users = {k: u.id for k, u in county.users.items()}
        return engine, users, app.id


def _history(engine: sa.Engine, app_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(a, s) for a, s in conn.execute(
            sa.select(Transition.action, Transition.to_state)
            .where(Transition.application_id == app_id).order_by(Transition.id))]


def test_the_second_of_two_officers_is_told(db_factory) -> None:  # type: ignore[no-untyped-def]
    engine, users, app_id = _setup(db_factory.migrated_url())
    factory = session_factory(engine)
    before = _history(engine, app_id)
    one, two = factory(), factory()
    fired: list[bool] = []

    def first_officer_commits(*_args: object) -> None:
        # The moment between the second officer's checks and their write: the first officer's
        # step lands and commits exactly then.
        if not fired:
            fired.append(True)
            service.act(one, one.get(User, users["village"]), app_id, Action.village_approve)
            one.commit()

    try:
        sa.event.listen(two, "before_flush", first_officer_commits)
        with pytest.raises(Conflict) as told:
            service.act(two, two.get(User, users["village_b"]), app_id,
                        Action.village_approve)
        assert fired
        both = told.value.message.both()
        assert "已被他人处理" in both["zh"] and "someone else" in both["en"]
        assert "由“待村级初审”变为“待乡镇审核”" in both["zh"]
        two.rollback()
    finally:
        one.close()
        two.close()
    history = _history(engine, app_id)
    assert history[:len(before)] == before
    assert [a for a, _s in history[len(before):]] == [Action.village_approve.value]
    with engine.connect() as conn:
        assert conn.scalar(sa.select(LoanApplication.state).where(
            LoanApplication.id == app_id)) == State.village_approved.value
    engine.dispose()


def test_two_officers_at_the_same_moment(db_factory) -> None:  # type: ignore[no-untyped-def]
    """Really at once, on two threads: exactly one step is recorded; the other officer gets a
    refusal that says why (a conflict, or — if they read after the first committed — that the
    step is no longer possible)."""
    engine, users, app_id = _setup(db_factory.migrated_url())
    factory = session_factory(engine)
    before = len(_history(engine, app_id))
    start = threading.Barrier(2)
    outcome: dict[str, str] = {}

    def officer(name: str, action: Action) -> None:
        with factory() as session:
            actor = session.get(User, users[name])
            session.get(LoanApplication, app_id)
            start.wait()
            try:
                service.act(session, actor, app_id, action, reason="现场核实")
                session.commit()
                outcome[name] = "done"
            except (Conflict, Forbidden) as exc:
                session.rollback()
                outcome[name] = exc.message.render("en")

    threads = [threading.Thread(target=officer, args=("village", Action.village_approve)),
               threading.Thread(target=officer, args=("village_b", Action.village_approve))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(v == "done" for v in outcome.values()) == [False, True], outcome
    assert len(_history(engine, app_id)) == before + 1
    engine.dispose()
