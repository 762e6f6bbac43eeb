"""Applications, the four steps, loans and whole-village granting on both databases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from ctown.errors import Conflict, Forbidden, NotFound
from ctown.lending import grants, loans, sample, service
from ctown.lending.approval import Action, State
from ctown.lending.decision import Request
from ctown.lending.models import Loan, Notice, Transition
from ctown.registry.models import ChangeEvent

D = Decimal
REQ = Request(D("50000"), 12, "equal_instalment")


@pytest.fixture
def county(session: Session) -> sample.County:
    return sample.build(session)


def _apply(session: Session, county: sample.County, who: str = "farmer", idx: int = 0,
           req: Request = REQ, product: str = "rcb_credit"):
    hid = county.households[sample.VILLAGE][idx]
    return service.apply(session, county.users[who], subject_id=hid, product_code=product,
                         req=req, purpose="购买化肥")


def _walk(session: Session, county: sample.County, app_id: int) -> None:
    u = county.users
    service.act(session, u["village"], app_id, Action.village_approve)
    service.act(session, u["township"], app_id, Action.township_approve)
    service.act(session, u["bank"], app_id, Action.bank_approve)


def test_farmer_applies_and_gets_an_instant_offer(session: Session,
                                                  county: sample.County) -> None:
    app, decision = _apply(session, county)
    assert app.state == State.submitted and app.eligible and app.preapproved
    assert app.offer_rate_pct == D("3.04") and app.offer_amount == D("50000.00")
    assert app.channel == "farmer" and app.grade == "A1"
    assert app.due_on is not None and app.due_on > app.created_at.date() - dt.timedelta(days=1)
    assert decision.offer is not None
    assert sum(r.principal for r in decision.offer.schedule) == D("50000.00")
    assert app.reasons and all(set(r) == {"zh", "en"} for r in app.reasons)
    notes = session.scalars(sa.select(Notice).where(Notice.ref_kind == "loan_application",
                                                    Notice.ref_id == app.id)).all()
    assert {n.channel for n in notes} == {"sms", "in_app"}
    reviewers = {n.user_id for n in notes if n.channel == "in_app"}
    assert reviewers == {county.users["village"].id, county.users["village_b"].id,
                         county.users["relative"].id}


def test_proxy_applies_only_for_mandated_farmers(session: Session,
                                                 county: sample.County) -> None:
    app, _d = _apply(session, county, "proxy", idx=1)
    assert app.channel == "credit_proxy" and app.submitted_by == county.users["proxy"].id
    assert app.grade == "B1" and app.state == State.submitted
    with pytest.raises(NotFound):
        _apply(session, county, "proxy", idx=0)


def test_a_farmer_cannot_apply_for_a_neighbour(session: Session, county: sample.County) -> None:
    with pytest.raises((NotFound, Forbidden)):
        _apply(session, county, "farmer", idx=2)


def test_the_four_steps_then_loan_and_repayments(session: Session,
                                                 county: sample.County) -> None:
    app, _d = _apply(session, county)
    _walk(session, county, app.id)
    assert app.state == State.approved and app.finished_at is not None
    steps = session.scalars(sa.select(Transition).where(Transition.application_id == app.id)
                            .order_by(Transition.id)).all()
    assert [(t.action, t.to_state) for t in steps] == [
        ("submit", "submitted"), ("village_approve", "village_approved"),
        ("township_approve", "township_approved"), ("bank_approve", "approved")]
    assert all(t.actor_id and t.at for t in steps)
    events = session.scalars(sa.select(ChangeEvent).where(
        ChangeEvent.entity == "loan_application",
        ChangeEvent.subject_id == app.subject_id)).all()
    assert len(events) == 4
    loan = loans.disburse(session, county.users["bank"], app.id, on=dt.date(2026, 3, 10))
    assert app.state == State.disbursed
    assert len(loan.instalments) == 12
    assert sum(i.principal for i in loan.instalments) == D("50000.00")
    first = loan.instalments[0]
    allocs = loans.repay(session, county.users["bank"], loan.id, first.principal + first.interest,
                         paid_on=dt.date(2026, 4, 10))
    assert allocs[0].on_time and allocs[0].settled
    assert loan.outstanding == D("50000.00") - first.principal
    loans.assess(session, None, loan, dt.date(2026, 6, 20))
    assert (loan.days_past_due, loan.classification) == (41, "special_mention")
    loans.assess(session, None, loan, dt.date(2026, 8, 20))
    assert loan.classification == "substandard"
    with pytest.raises(Forbidden):
        loans.repay(session, county.users["village"], loan.id, D("10"))


@pytest.mark.parametrize(("who", "action", "error"), [
    ("township", Action.township_approve, Forbidden),   # skip the village step
    ("bank", Action.bank_approve, Forbidden),            # skip two steps
    ("relative", Action.village_approve, Forbidden),     # officer of the applicant's household
    ("village2", Action.village_approve, NotFound),      # another village cannot even see it
    ("township2", Action.village_approve, NotFound),     # another township
    ("bank_other", Action.bank_approve, NotFound),       # another bank
])
def test_illegal_steps_are_refused_and_logged(session: Session, county: sample.County,
                                              who: str, action: Action, error: type) -> None:
    if who == "relative":  # the other village officer files for the relative's household
        app, _d = _apply(session, county, "village", idx=4)
    else:
        app, _d = _apply(session, county)
    with pytest.raises(error):
        service.act(session, county.users[who], app.id, action)
    assert app.state == State.submitted
    assert session.scalar(sa.select(sa.func.count()).select_from(Transition).where(
        Transition.application_id == app.id)) == 1


def test_repeat_and_double_approval_are_refused(session: Session, county: sample.County) -> None:
    app, _d = _apply(session, county)
    service.act(session, county.users["village"], app.id, Action.village_approve)
    with pytest.raises(Forbidden):
        service.act(session, county.users["village"], app.id, Action.village_approve)
    with pytest.raises(Forbidden):
        service.act(session, county.users["village_b"], app.id, Action.village_approve)
    service.act(session, county.users["township"], app.id, Action.return_, reason="补充材料")
    assert app.state == State.returned
    with pytest.raises(NotFound):  # a proxy without this farmer's mandate
        service.act(session, county.users["proxy"], app.id, Action.resubmit)
    service.act(session, county.users["farmer"], app.id, Action.resubmit)
    assert app.state == State.submitted
    service.act(session, county.users["village"], app.id, Action.village_approve)
    assert app.state == State.village_approved


def test_declined_decision_can_go_to_a_person(session: Session, county: sample.County) -> None:
    app, decision = _apply(session, county, "village", idx=3)  # E1 household, officer files
    assert app.state == State.declined and not decision.eligible and app.channel == \
        "village_officer"
    assert any("等级" in r["zh"] for r in app.reasons)
    service.act(session, county.users["village"], app.id, Action.request_review)
    assert app.state == State.review_requested
    queue = service.review_queue(session, county.users["bank"])
    assert app.id in [a.id for a in queue]
    with pytest.raises(Forbidden):
        service.act(session, county.users["bank"], app.id, Action.uphold)  # no reason
    service.act(session, county.users["bank"], app.id, Action.overturn)
    assert app.state == State.submitted and app.due_on is not None


def test_review_queues_per_role(session: Session, county: sample.County) -> None:
    a, _ = _apply(session, county)
    b, _ = _apply(session, county, "proxy", idx=1)
    service.act(session, county.users["village"], b.id, Action.village_approve)
    assert [x.id for x in service.review_queue(session, county.users["village"])] == [a.id]
    assert [x.id for x in service.review_queue(session, county.users["township"])] == [b.id]
    assert service.review_queue(session, county.users["township2"]) == []
    assert service.review_queue(session, county.users["bank"]) == []
    assert service.deadline(a) is not None


def test_insurer_compensation_closes_a_force_majeure_default(session: Session,
                                                             county: sample.County) -> None:
    app, _d = _apply(session, county, product="rcb_insured")
    _walk(session, county, app.id)
    loan = loans.disburse(session, county.users["bank"], app.id, on=dt.date(2026, 1, 5))
    with pytest.raises(Conflict):
        loans.compensate(session, county.users["insurer"], loan.id, "洪灾")  # not overdue yet
    loans.assess(session, None, loan, dt.date(2026, 5, 1))
    assert loan.days_past_due > 0
    loans.compensate(session, county.users["insurer"], loan.id, "2026年4月洪灾绝收",
                     on=dt.date(2026, 5, 2))
    assert loan.status == "compensated" and loan.outstanding == 0
    assert loan.classification == "normal"
    insurer_paid = session.execute(sa.text(
        "SELECT source, amount FROM loan_repayments WHERE loan_id = :i"), {"i": loan.id}).all()
    assert [r[0] for r in insurer_paid] == ["insurer"]


def test_whole_village_preview_and_grant(session: Session, county: sample.County) -> None:
    view = grants.preview(session, county.users["bank"], sample.VILLAGE, "rcb_credit")
    summary = view.summary()
    assert summary["households"] == 12
    # A1, B1 and C1 households qualify; E1 is outside the product's grades.
    assert summary["eligible"] == 9 and summary["by_reason"]["grade"] == 3
    assert D(summary["total_limit"]) == D("300000") * 3 + D("150000") * 3 + D("50000") * 3
    batch = grants.grant(session, county.users["bank"], sample.VILLAGE, "rcb_credit")
    assert (batch.households, batch.granted) == (12, 9)
    again = grants.grant(session, county.users["bank"], sample.VILLAGE, "rcb_credit")
    lines = grants.lines_of(session, again.id)
    assert len(lines) == 9 and all(line.status == "active" for line, _n in lines)
    old = grants.lines_of(session, batch.id)
    assert all(line.status == "superseded" for line, _n in old)
    with pytest.raises(Forbidden):
        grants.grant(session, county.users["village"], sample.VILLAGE, "rcb_credit")
    with pytest.raises(NotFound):
        grants.preview(session, county.users["village2"], sample.VILLAGE, "rcb_credit")


def test_loans_are_scoped(session: Session, county: sample.County) -> None:
    app, _d = _apply(session, county)
    _walk(session, county, app.id)
    loan = loans.disburse(session, county.users["bank"], app.id)
    assert loans.get_loan_for(session, county.users["farmer"], loan.id).id == loan.id
    for who in ("farmer_c", "village2", "bank_other", "insurer"):
        with pytest.raises(NotFound):
            loans.get_loan_for(session, county.users[who], loan.id)
    assert session.get(Loan, loan.id) is not None


def test_repayments_and_overdues_reach_the_credit_file(session: Session,
                                                        county: sample.County) -> None:
    from ctown.ingest.models import CurrentValue, IndicatorValue

    app, _d = _apply(session, county)
    _walk(session, county, app.id)
    loan = loans.disburse(session, county.users["bank"], app.id, on=dt.date(2026, 3, 10))
    two = sum(i.principal + i.interest for i in loan.instalments[:2])
    loans.repay(session, county.users["bank"], loan.id, two, paid_on=dt.date(2026, 4, 9))
    on_time = session.scalars(sa.select(IndicatorValue.value_num).where(
        IndicatorValue.subject_id == app.subject_id, IndicatorValue.indicator_code == "I0507"))
    assert list(on_time) == [1.0, 1.0]  # two instalments, two on-time records
    loans.assess(session, county.users["bank"], loan, dt.date(2026, 7, 1))
    current = {c.indicator_code: c for c in session.scalars(sa.select(CurrentValue).where(
        CurrentValue.subject_id == app.subject_id))}
    assert current["I0504"].value_num == (dt.date(2026, 7, 1) - dt.date(2026, 6, 10)).days
    assert current["I0506"].value_text == "2"  # 关注 special mention
    assert current["I0501"].value_num == 50000.0


def test_punishment_list_refuses_at_once(session: Session, county: sample.County) -> None:
    from ctown.ingest.service import record_values

    hid = county.households[sample.VILLAGE][0]
    record_values(session, actor=None, department="court", source="test",
                  values=[(hid, "I0703", True, dt.date(2026, 1, 5))])
    app, _decision = _apply(session, county)
    assert app.state == State.declined
    assert any("失信" in r["zh"] for r in app.reasons)
    # The officers of the place read why; the bank only that the household is not eligible
    # (issue #10 QA: the bank read the punishment list through the preview).
    view = grants.preview(session, county.users["village"], sample.VILLAGE, "rcb_credit")
    row = view.rows.filter(view.rows["subject_id"] == hid).row(0, named=True)
    assert (row["eligible"], row["reason"]) == (False, "punished")
    view = grants.preview(session, county.users["bank"], sample.VILLAGE, "rcb_credit")
    row = view.rows.filter(view.rows["subject_id"] == hid).row(0, named=True)
    assert (row["eligible"], row["reason"]) == (False, "not_eligible")


def test_figures_per_village_township_bank(session: Session, county: sample.County) -> None:
    from ctown.lending.figures import figures

    app, _d = _apply(session, county)
    _walk(session, county, app.id)
    loans.disburse(session, county.users["bank"], app.id, on=dt.date(2026, 1, 10))
    app2, _d = _apply(session, county, "proxy", idx=1, product="rcb_collateral",
                      req=Request(D("40000"), 12, "interest_first", "large_machinery",
                                  collateral_value=D("100000")))
    _walk(session, county, app2.id)
    loan2 = loans.disburse(session, county.users["bank"], app2.id, on=dt.date(2026, 1, 10))
    loans.assess(session, None, loan2, dt.date(2026, 6, 1))  # >90 days: substandard
    fig = figures(session, None)
    c = fig["county"]
    assert c["loans"] == 2 and c["approvals"] == 2
    assert c["credit_loan_share"] == pytest.approx(50000 / 90000, abs=1e-4)
    assert c["npl_ratio"] == pytest.approx(40000 / 90000, abs=1e-4)
    assert c["approval_days_median"] == 0
    assert [v["code"] for v in fig["by_village"]] == [sample.VILLAGE]
    assert [t["code"] for t in fig["by_township"]] == [sample.TOWNSHIP]
    assert fig["by_bank"][0]["code"] == "RCB" and set(c["by_grade"]) == {"A1", "B1"}
    assert figures(session, county.users["village2"])["county"]["loans"] == 0


def test_demo_builds_once_and_shows_every_role(session: Session, county: sample.County,
                                               tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ctown.capabilities import DemoContext
    from ctown.lending import demo, status
    from ctown.settings import Settings

    # The demo's accounts, by role: the first village's officer before the second village's.
    ctx = DemoContext.of(Settings(var_dir=tmp_path), tmp_path, [county.users[key] for key in (
        "village", "village2", "township", "bank", "farmer", "proxy", "insurer")])
    sample.add_households(session, sample.VILLAGE2, 20, grades=["A1", "B2", "C1"], prefix="D")
    session.flush()
    demo.build(session, ctx)
    first = status.counts(session)
    assert first["lending.village_grants"] == 1 and first["lending.loans"] >= 10
    assert first["lending.applications_open"] >= 3
    demo.build(session, ctx)
    assert status.counts(session) == first
    u = county.users
    assert service.review_queue(session, u["bank"])        # farmer's app + human review
    assert service.review_queue(session, u["village"])     # proxy's app
    assert any(x.product_kind == "insurance" and x.days_past_due > 0
               for x in loans.list_loans(session, u["insurer"]))


def _count_queries(session: Session, fn) -> int:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def listener(*args) -> None:  # type: ignore[no-untyped-def]
        seen.append(args[2])

    engine = session.get_bind().engine
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return len(seen)


def test_lists_and_queues_do_not_grow_queries_with_rows(session: Session,
                                                        county: sample.County) -> None:
    _apply(session, county)
    session.expire_all()
    u = county.users
    few = [_count_queries(session, lambda who=who: service.review_queue(session, u[who]))
           for who in ("village", "bank")]
    few_list = _count_queries(session, lambda: service.list_applications(session, u["admin"]))
    for idx in (1, 2, 3, 5):
        _apply(session, county, "village", idx=idx)
    session.expire_all()
    many = [_count_queries(session, lambda who=who: service.review_queue(session, u[who]))
            for who in ("village", "bank")]
    many_list = _count_queries(session, lambda: service.list_applications(session, u["admin"]))
    assert many == few and many_list == few_list <= 3


def test_deadline_reminders_around_spring_festival(session: Session,
                                                   county: sample.County) -> None:
    app, _d = _apply(session, county)
    # Submitted Thu 12 Feb 2026 (China): Fri 13 and Sat 14 (worked) count, then the holiday.
    app.submitted_at = dt.datetime(2026, 2, 12, 1, 0, tzinfo=dt.UTC)
    app.due_on = dt.date(2026, 2, 24)
    session.flush()
    assert service.deadline(app, dt.date(2026, 2, 13)).status == "ok"
    assert service.deadline_reminders(session, dt.date(2026, 2, 13)) == 0
    # In the holiday the next working day (24 Feb) is the last one: warn now.
    assert service.deadline(app, dt.date(2026, 2, 16)).left == 1
    assert service.deadline_reminders(session, dt.date(2026, 2, 16)) == 1
    assert service.deadline_reminders(session, dt.date(2026, 2, 16)) == 0   # once a day
    assert service.deadline_reminders(session, dt.date(2026, 2, 25)) == 1   # overdue
    texts = session.scalars(sa.select(Notice.msgid).where(
        Notice.ref_kind == "loan_application", Notice.ref_id == app.id,
        Notice.user_id == county.users["village"].id)).all()
    assert any("即将到期" in t for t in texts) and any("已超过" in t for t in texts)
    service.act(session, county.users["village"], app.id, Action.village_approve)
    # Now it waits for the township: their officer is reminded, on the same clock.
    assert service.deadline_reminders(session, dt.date(2026, 2, 26)) == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(Notice).where(
        Notice.ref_kind == "loan_application", Notice.ref_id == app.id,
        Notice.user_id == county.users["township"].id, Notice.msgid.contains("已超过"))) == 1
