"""Pure lending domain: products, schedules to the fen, Chinese working days, the state machine,
the instant decision. No database."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctown.catalogue.configfile import ConfigFileError
from ctown.lending import approval, loanbook, schedule, workdays
from ctown.lending.approval import Action, Actor, Application, IllegalTransition, State, Step
from ctown.lending.decision import Facts, Request, decide
from ctown.lending.products import load_product, load_products

D = Decimal
START = dt.date(2026, 3, 15)


# -- products ----------------------------------------------------------------------------------

def test_the_four_product_kinds_are_defined_as_data() -> None:
    kinds = {p.kind for p in load_products().values()}
    assert kinds == {"pure_credit", "collateral", "supply_chain", "insurance"}
    credit = load_products()["rcb_credit"]
    top = credit.grades["A1"]
    assert credit.rate_for(top) == D("3.04")  # 4.35 × 0.70, base rate −30 %
    assert top.limit_entity == D("500000") and not top.guarantor_required
    assert all(t <= 36 for p in load_products().values() for t in p.terms_months)


def test_a_product_file_error_names_file_line_and_field(tmp_path: Path) -> None:
    src = (Path(__file__).parents[1] / "src/ctown/lending/data/products/rcb_credit.yaml")
    text = src.read_text(encoding="utf-8").replace("terms_months: [6, 12, 24, 36]",
                                                  "terms_months: [6, 12, 48]")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as err:
        load_product(bad)
    assert err.value.path.endswith("bad.yaml") and err.value.line is not None
    text = src.read_text(encoding="utf-8").replace('limit_household: "300000"',
                                                  'limit_household: "lots"')
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigFileError) as err:
        load_product(bad)
    assert err.value.field == "grades.A1.limit_household"
    assert err.value.line == text.splitlines().index(
        next(line for line in text.splitlines() if "lots" in line)) + 1


# -- schedules ---------------------------------------------------------------------------------

def test_equal_instalments_to_the_fen() -> None:
    rows = schedule.equal_instalments(D("100000.00"), D("4.35"), 12, START)
    assert rows[0].amount == D("8530.99")
    assert rows[0].interest == D("362.50")
    assert all(r.amount == D("8530.99") for r in rows[:-1])
    assert rows[-1].due_on == dt.date(2027, 3, 15)
    total = schedule.totals(rows)
    assert total["principal"] == D("100000.00")
    # Interest is rounded to the fen each month (91,831.51 × 0.3625 % = 332.89 in month 2), so
    # the last instalment carries the 2 fen of drift: 8,500.20 + 30.81.
    assert rows[1].interest == D("332.89")
    assert (rows[-1].principal, rows[-1].interest) == (D("8500.20"), D("30.81"))
    assert total["interest"] == D("2371.90")


def test_interest_first_to_the_fen() -> None:
    rows = schedule.interest_first(D("50000.00"), D("3.04"), 6, dt.date(2026, 1, 31))
    assert [r.interest for r in rows] == [D("126.67")] * 6
    assert [r.principal for r in rows] == [D("0.00")] * 5 + [D("50000.00")]
    assert rows[0].due_on == dt.date(2026, 2, 28)  # month end clamped


@settings(max_examples=300, deadline=None)
# From 100 yuan: below that a fen of rounding per month is a visible share of the payment.
@given(principal=st.integers(min_value=10_000, max_value=50_000_000).map(lambda f: D(f) / 100),
       rate=st.integers(min_value=0, max_value=2400).map(lambda bp: D(bp) / 100),
       months=st.integers(min_value=1, max_value=36),
       method=st.sampled_from(["equal_instalment", "interest_first"]))
def test_instalments_always_add_up_to_the_principal(principal: Decimal, rate: Decimal,
                                                    months: int, method: str) -> None:
    rows = schedule.build(method, principal, rate, months, START)
    assert len(rows) == months
    assert sum(r.principal for r in rows) == principal
    for r in rows:
        assert r.principal >= 0 and r.interest >= 0
        assert r.principal == r.principal.quantize(D("0.01"))
        assert r.interest == r.interest.quantize(D("0.01"))
    if method == "equal_instalment" and months > 1:
        # Equal payments except the last, which absorbs at most a few fen per period of rounding.
        first = rows[0].amount
        assert all(r.amount == first for r in rows[:-1] if r.principal > 0)
        assert abs(rows[-1].amount - first) <= D("0.01") * months


# -- working days ------------------------------------------------------------------------------

def test_spring_festival_2026_deadline() -> None:
    # Fri 13 Feb; Sat 14 Feb is an adjusted working day; 15–23 Feb is the holiday.
    assert workdays.add_working_days(dt.date(2026, 2, 13), 3).day == dt.date(2026, 2, 25)
    assert workdays.add_working_days(dt.date(2026, 2, 14), 1).day == dt.date(2026, 2, 24)


def test_national_day_deadlines() -> None:
    # 2026: 1–7 Oct off, Sat 10 Oct worked.  2025: 1–8 Oct off, Sat 11 Oct worked.
    assert workdays.add_working_days(dt.date(2026, 9, 30), 3).day == dt.date(2026, 10, 10)
    assert workdays.add_working_days(dt.date(2025, 9, 30), 3).day == dt.date(2025, 10, 11)
    assert not workdays.is_working_day(dt.date(2025, 10, 8))
    assert workdays.is_working_day(dt.date(2025, 9, 28))  # a Sunday worked


def test_deadline_warns_before_it_runs_out() -> None:
    submitted = dt.date(2026, 2, 13)  # due 25 Feb
    assert workdays.deadline_for(submitted, dt.date(2026, 2, 13)).status == "ok"
    assert workdays.deadline_for(submitted, dt.date(2026, 2, 20)).status == "ok"  # holiday
    soon = workdays.deadline_for(submitted, dt.date(2026, 2, 24))
    assert (soon.status, soon.left) == ("due_soon", 1)
    assert workdays.deadline_for(submitted, dt.date(2026, 2, 25)).status == "due_soon"
    late = workdays.deadline_for(submitted, dt.date(2026, 2, 27))
    assert (late.status, late.left) == ("overdue", -2)


def test_years_outside_the_calendar_are_refused_or_flagged() -> None:
    first, last = workdays.covered_years()
    assert first <= 2025 and last >= 2026
    outside = dt.date(last, 12, 30)
    with pytest.raises(workdays.CalendarNotCovered):
        workdays.add_working_days(outside, 3)
    with pytest.raises(workdays.CalendarNotCovered):
        workdays.is_working_day(dt.date(last + 1, 1, 4))
    guess = workdays.add_working_days(outside, 3, allow_estimate=True)
    assert guess.estimated
    assert workdays.deadline_for(outside, outside).estimated
    assert not workdays.deadline_for(dt.date(2026, 3, 2), dt.date(2026, 3, 2)).estimated


# -- the state machine -------------------------------------------------------------------------

VILLAGE, TOWNSHIP = "330100001001", "330100001000"
APP = Application(State.submitted, VILLAGE, TOWNSHIP, "RCB", subject_id=10, household_id=10)
VO = Actor(1, "village_officer", VILLAGE, household_id=99)
TO = Actor(2, "township_officer", TOWNSHIP)
BO = Actor(3, "bank_officer", "330100000000", bank_code="RCB")
FARMER = Actor(4, "farmer", VILLAGE, household_id=10, acts_for_applicant=True)


def at(state: State) -> Application:
    return Application(state, VILLAGE, TOWNSHIP, "RCB", 10, 10)


def test_the_four_steps_in_order() -> None:
    history = [Step(Action.submit, FARMER.user_id)]
    assert approval.next_state(APP, VO, Action.village_approve, history) == State.village_approved
    history.append(Step(Action.village_approve, VO.user_id))
    assert approval.next_state(at(State.village_approved), TO, Action.township_approve,
                               history) == State.township_approved
    history.append(Step(Action.township_approve, TO.user_id))
    assert approval.next_state(at(State.township_approved), BO, Action.bank_approve,
                               history) == State.approved


@pytest.mark.parametrize(("state", "actor", "action"), [
    (State.submitted, TO, Action.township_approve),        # skip the village
    (State.submitted, BO, Action.bank_approve),            # skip two steps
    (State.village_approved, BO, Action.bank_approve),     # skip the township
    (State.village_approved, VO, Action.village_approve),  # repeat a step
    (State.approved, BO, Action.bank_approve),             # approve again
    (State.rejected, VO, Action.village_approve),          # revive a rejection
    (State.submitted, FARMER, Action.village_approve),     # applicant approves
    (State.submitted, TO, Action.village_approve),         # wrong role for the step
])
def test_illegal_steps_are_refused(state: State, actor: Actor, action: Action) -> None:
    with pytest.raises(IllegalTransition):
        approval.next_state(at(state), actor, action, [Step(Action.submit, 4)])


def test_no_one_approves_twice_in_a_round() -> None:
    both = Actor(7, "township_officer", TOWNSHIP)
    history = [Step(Action.submit, 4), Step(Action.village_approve, 7)]
    with pytest.raises(IllegalTransition, match="两个步骤"):
        approval.next_state(at(State.village_approved), both, Action.township_approve, history)
    # After a return and resubmission the village officer reviews the corrected application again.
    history += [Step(Action.return_, 2), Step(Action.resubmit, 4)]
    assert approval.next_state(APP, Actor(7, "village_officer", VILLAGE), Action.village_approve,
                               history) == State.village_approved


def test_own_and_relatives_applications_are_refused() -> None:
    own = Actor(8, "village_officer", VILLAGE, household_id=10)
    with pytest.raises(IllegalTransition, match="回避"):
        approval.next_state(APP, own, Action.village_approve, [])
    entity_app = Application(State.township_approved, VILLAGE, TOWNSHIP, "RCB", 55, 10)
    relative_banker = Actor(9, "bank_officer", VILLAGE, bank_code="RCB", household_id=10)
    with pytest.raises(IllegalTransition, match="回避"):
        approval.next_state(entity_app, relative_banker, Action.bank_approve, [])


def test_reviewers_are_bound_to_their_place() -> None:
    other_village = Actor(5, "village_officer", "330100001002")
    with pytest.raises(IllegalTransition):
        approval.next_state(APP, other_village, Action.village_approve, [])
    other_bank = Actor(6, "bank_officer", "330100000000", bank_code="XYZ")
    with pytest.raises(IllegalTransition):
        approval.next_state(at(State.township_approved), other_bank, Action.bank_approve, [])


def test_return_and_reject_need_a_reason_and_returned_can_be_resubmitted() -> None:
    with pytest.raises(IllegalTransition, match="理由"):
        approval.next_state(APP, VO, Action.return_, [], reason=" ")
    assert approval.next_state(APP, VO, Action.return_, [], reason="缺少土地流转合同") \
        == State.returned
    assert approval.next_state(at(State.returned), FARMER, Action.resubmit) == State.submitted
    assert approval.next_state(APP, VO, Action.reject, [], reason="虚假材料") == State.rejected
    with pytest.raises(IllegalTransition):
        approval.next_state(at(State.rejected), FARMER, Action.resubmit)


def test_human_review_of_an_automated_refusal() -> None:
    assert approval.next_state(at(State.declined), FARMER, Action.request_review) \
        == State.review_requested
    stranger = Actor(11, "farmer", VILLAGE, household_id=12)
    with pytest.raises(IllegalTransition):
        approval.next_state(at(State.declined), stranger, Action.request_review)
    assert approval.next_state(at(State.review_requested), BO, Action.overturn) == State.submitted
    assert approval.next_state(at(State.review_requested), BO, Action.uphold,
                               reason="等级不足") == State.rejected
    with pytest.raises(IllegalTransition):
        approval.next_state(at(State.review_requested), VO, Action.overturn)


# -- decision ----------------------------------------------------------------------------------

TODAY = dt.date(2026, 5, 6)


def test_top_grade_is_preapproved_with_an_offer() -> None:
    credit = load_products()["rcb_credit"]
    d = decide(credit, Facts("household", VILLAGE, "A1", age=45),
               Request(D("80000"), 12, "equal_instalment"), TODAY)
    assert d.eligible and d.preapproved and d.offer is not None
    assert d.offer.rate_pct == D("3.04") and d.offer.limit == D("300000")
    assert sum(r.principal for r in d.offer.schedule) == D("80000.00")
    assert d.reasons


@pytest.mark.parametrize(("facts", "word"), [
    (Facts("household", VILLAGE, "E1", age=45), "等级"),
    (Facts("household", VILLAGE, None, age=45), "信用评价"),
    (Facts("household", VILLAGE, "A1", age=70), "年龄"),
    (Facts("household", VILLAGE, "A1", age=45, punished=True), "失信"),
])
def test_refusals_say_why(facts: Facts, word: str) -> None:
    d = decide(load_products()["rcb_credit"], facts, Request(D("10000"), 12, "interest_first"),
               TODAY)
    assert not d.eligible and d.offer is None
    assert any(word in m.render() for m in d.reasons)
    assert all(m.render("en") for m in d.reasons)


def test_limits_for_collateral_and_supply_chain_and_guarantor() -> None:
    products = load_products()
    d = decide(products["rcb_collateral"], Facts("household", VILLAGE, "A1", 40),
               Request(D("500000"), 24, "equal_instalment", "homestead_use_right",
                       collateral_value=D("300000")), TODAY)
    assert d.offer is not None and d.offer.limit == D("180000.00")  # 60 % of 300,000
    assert d.offer.amount == D("180000.00") and d.preapproved
    d = decide(products["rcb_supply_chain"], Facts("entity", VILLAGE, "B2"),
               Request(D("90000"), 6, "interest_first", contract_amount=D("100000")), TODAY)
    assert d.offer is not None and d.offer.limit == D("80000.00")  # 80 % of the contract
    d = decide(products["rcb_credit"], Facts("household", VILLAGE, "C1", 40),
               Request(D("20000"), 12, "interest_first"), TODAY)
    assert d.offer is not None and d.offer.guarantor_required and not d.preapproved


# -- loan book ---------------------------------------------------------------------------------

def test_repayments_overdue_days_and_classification() -> None:
    rows = schedule.equal_instalments(D("12000.00"), D("0"), 3, dt.date(2026, 1, 10))
    dues = [loanbook.Due(r.number, r.due_on, r.amount) for r in rows]
    alloc, rest = loanbook.allocate(dues, D("4000.00"), dt.date(2026, 2, 9))
    assert rest == 0 and alloc[0].on_time and alloc[0].settled
    today = dt.date(2026, 6, 20)
    assert loanbook.days_past_due(dues, today) == (today - dt.date(2026, 3, 10)).days
    assert loanbook.overdue_amount(dues, today) == D("8000.00")
    alloc, _ = loanbook.allocate(dues, D("4000.00"), today)
    assert alloc[0].settled and not alloc[0].on_time
    assert [loanbook.classify(d) for d in (0, 1, 90, 91, 180, 181, 360, 361)] == [
        "normal", "special_mention", "special_mention", "substandard", "substandard",
        "doubtful", "doubtful", "loss"]
