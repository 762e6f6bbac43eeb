"""Three-party review (三方复核): sign-off rules, go-live, rollback, impact assessment."""

from __future__ import annotations

import datetime as dt

import pytest
from tests.test_scoring_support import user

from ctown.errors import Conflict, Forbidden
from ctown.scoring import review


def _version(session, tag: str = "a"):
    return review.register_version(session, actor=None, algorithm="woe-scorecard",
                                   fingerprint=(tag * 64)[:64], metrics={"auc": 0.8, "ks": 0.5},
                                   artifact={"format": "ctown-scorecard"}, features=["I0504"])


@pytest.fixture
def people(session):
    return {name: user(session, name, role) for name, role in (
        ("bank1", "bank_officer"), ("bank2", "bank_officer"), ("town1", "township_officer"),
        ("audit1", "evaluator"), ("village1", "village_officer"), ("admin1", "county_admin"))}


def test_fewer_than_three_signoffs_is_refused(session, people) -> None:
    v = _version(session)
    review.sign_off(session, version_id=v.id, actor=people["bank1"])
    review.sign_off(session, version_id=v.id, actor=people["town1"])
    with pytest.raises(Conflict):
        review.activate(session, version_id=v.id, actor=people["admin1"])
    assert review.live_version(session) is None
    assert review.missing_signoffs(session, v.id) == ["evaluator"]


def test_same_person_twice_and_same_role_twice_are_refused(session, people) -> None:
    v = _version(session)
    review.sign_off(session, version_id=v.id, actor=people["bank1"])
    with pytest.raises(Conflict):
        review.sign_off(session, version_id=v.id, actor=people["bank1"])
    with pytest.raises(Conflict):  # a second bank officer cannot stand in for the township
        review.sign_off(session, version_id=v.id, actor=people["bank2"])
    assert len(review.signoffs(session, v.id)) == 1


def test_wrong_roles_cannot_sign_or_activate(session, people) -> None:
    v = _version(session)
    for name in ("village1", "admin1"):
        with pytest.raises(Forbidden):
            review.sign_off(session, version_id=v.id, actor=people[name])
    for name in ("bank1", "town1", "audit1"):
        review.sign_off(session, version_id=v.id, actor=people[name])
    with pytest.raises(Forbidden):
        review.activate(session, version_id=v.id, actor=people["bank1"])


def test_go_live_then_rollback(session, people) -> None:
    first, second = _version(session, "a"), _version(session, "b")
    for v in (first, second):
        for name in ("bank1", "town1", "audit1"):
            review.sign_off(session, version_id=v.id, actor=people[name])
    review.activate(session, version_id=first.id, actor=people["admin1"])
    assert review.live_version(session).id == first.id
    review.activate(session, version_id=second.id, actor=people["admin1"])
    assert (first.status, second.status) == ("retired", "live")
    with pytest.raises(Conflict):  # a retired version cannot be signed again
        review.sign_off(session, version_id=first.id, actor=people["bank2"])
    back = review.rollback(session, actor=people["admin1"])
    assert back.id == first.id and review.live_version(session).id == first.id
    assert second.status == "rolled_back"


def test_impact_assessment_is_kept_three_years(session) -> None:
    v = _version(session)
    ia = v.impact_assessment
    assert {"purpose", "data_used", "effects", "safeguards"} <= set(ia)
    assert ia["data_used"] == ["I0504"]
    assert v.retain_until - v.created_at >= dt.timedelta(days=3 * 365)


def test_report_rank_ordering_does_not_judge_small_segments(session) -> None:
    import numpy as np

    from ctown.scoring.grades import GRADES
    from ctown.scoring.ranking import rank_check
    from ctown.scoring.report import validation_report

    rng = np.random.default_rng(11)
    grades = rng.choice(GRADES, 2_116)  # the demo holdout's size
    y = (rng.random(grades.size) < 0.04).astype(int)
    segs = rank_check(grades, y, {"all": np.ones(grades.size, bool)})
    v = review.register_version(session, actor=None, algorithm="woe-scorecard",
                                fingerprint="r" * 64, metrics={"auc": 0.7, "rank_ordering": segs},
                                artifact={"format": "ctown-scorecard"}, features=["I0504"])
    rep = validation_report(session, v.id)
    (seg,) = rep["rank_ordering"]
    assert seg["status"] == "too_small" and seg["ordered"] is None and seg["n"] == 2_116
    assert rep["rank_ordering_verdict"] == "too_small"  # neither a pass nor a failure
    # A version stored before statuses existed: an "out of order" small holdout is not a failure.
    old = review.register_version(
        session, actor=None, algorithm="woe-scorecard", fingerprint="s" * 64,
        metrics={"rank_ordering": [{"segment": "all", "n": 2_116, "applies": False,
                                    "ordered": False, "by_grade": []}]},
        artifact={"format": "ctown-scorecard"}, features=["I0504"])
    assert validation_report(session, old.id)["rank_ordering"][0]["status"] == "too_small"
