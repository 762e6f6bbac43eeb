"""Chinese working days (工作日) for approval deadlines, from the ``chinese_calendar`` library.

The library carries the State Council's holiday notices: statutory holidays (Spring Festival,
National Day …) and the adjusted working weekends (调休上班). It only knows the years for which a
notice has been published — version 1.11 covers 2004–2026. Outside those years we never guess
silently: :func:`add_working_days` raises :class:`CalendarNotCovered` unless the caller allows an
estimate, and then counts Monday–Friday only and marks the result ``estimated`` so the page shows
a warning until the library is upgraded (``uv pip install -U chinese-calendar``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import chinese_calendar
from chinese_calendar import constants

from ctown.access import rules
from ctown.i18n import Message, _


class CalendarNotCovered(ValueError):
    def __init__(self, day: dt.date) -> None:
        first, last = covered_years()
        self.message = Message(_("节假日日历只覆盖 {first}–{last} 年，无法确定 {day} 是否为工作日"),
                               {"first": first, "last": last, "day": day.isoformat()})
        super().__init__(str(self.message))


@lru_cache(maxsize=1)
def covered_years() -> tuple[int, int]:
    """First and last year of the installed library's holiday data."""
    years = [d.year for d in constants.holidays]
    return min(years), max(years)


def is_covered(day: dt.date) -> bool:
    first, last = covered_years()
    return first <= day.year <= last


def is_working_day(day: dt.date) -> bool:
    if not is_covered(day):
        raise CalendarNotCovered(day)
    return bool(chinese_calendar.is_workday(day))


@dataclass(frozen=True)
class WorkdayResult:
    day: dt.date
    #: True when part of the count fell outside the library's years (weekends only were skipped).
    estimated: bool = False


def _working(day: dt.date, allow_estimate: bool) -> tuple[bool, bool]:
    if is_covered(day):
        return bool(chinese_calendar.is_workday(day)), False
    if not allow_estimate:
        raise CalendarNotCovered(day)
    return day.weekday() < 5, True


def add_working_days(start: dt.date, n: int, *, allow_estimate: bool = False) -> WorkdayResult:
    """The ``n``-th working day after ``start`` (``start`` itself is not counted)."""
    if n < 0:
        raise ValueError("n must not be negative")
    day, left, estimated = start, n, False
    while left:
        day += dt.timedelta(days=1)
        working, guessed = _working(day, allow_estimate)
        estimated |= guessed
        left -= working
    return WorkdayResult(day, estimated)


def count_working_days(start: dt.date, end: dt.date, *, allow_estimate: bool = False
                       ) -> tuple[int, bool]:
    """(working days after ``start`` up to and including ``end``, estimated?)."""
    count, estimated, day = 0, False, start
    while day < end:
        day += dt.timedelta(days=1)
        working, guessed = _working(day, allow_estimate)
        estimated |= guessed
        count += working
    return count, estimated


def local_date(moment: dt.datetime) -> dt.date:
    """The date in China (Asia/Shanghai, UTC+8 all year) of an aware UTC time."""
    return rules.today(moment)


@dataclass(frozen=True)
class Deadline:
    """The approval deadline (3 working days, §7.2) and how close it is."""

    due_on: dt.date
    estimated: bool
    #: Working days left after ``today`` up to and including ``due_on`` (negative when overdue).
    left: int
    status: str  # "ok" | "due_soon" | "overdue"


def deadline_for(submitted: dt.date, today: dt.date, *, working_days: int = 3,
                 warn_when_left: int = 1) -> Deadline:
    """Deadline of an application submitted on ``submitted``; warns on its last working day(s)."""
    due = add_working_days(submitted, working_days, allow_estimate=True)
    if today <= due.day:
        left, est = count_working_days(today, due.day, allow_estimate=True)
        status = "due_soon" if left < warn_when_left + 1 else "ok"
        # On the due day itself ``left`` is 0: the last day to act, hence the warning.
    else:
        late, est = count_working_days(due.day, today, allow_estimate=True)
        left, status = -late, "overdue"
    return Deadline(due.day, due.estimated or est, left, status)
