"""Pages show Beijing time (北京时间), whatever the server's clock zone; "today" is the county's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ctown.access import rules
from ctown.web.templating import beijing_time, environment


def test_utc_times_are_shown_in_beijing_time() -> None:
    late_evening_utc = dt.datetime(2026, 1, 1, 16, 30, tzinfo=dt.UTC)
    assert beijing_time(late_evening_utc) == "2026-01-02 00:30"
    assert beijing_time(late_evening_utc.isoformat()) == "2026-01-02 00:30"
    assert beijing_time(dt.datetime(2026, 1, 1, 16, 30)) == "2026-01-02 00:30"  # naive = UTC
    assert beijing_time(None) == ""
    template = environment().from_string("{{ t|local }} / {{ t|localdate }} / {{ t|local('%H') }}")
    assert template.render(t=late_evening_utc) == "2026-01-02 00:30 / 2026-01-02 / 00"


def test_the_county_day_turns_at_midnight_beijing_time() -> None:
    assert rules.today(dt.datetime(2026, 1, 1, 15, 59, tzinfo=dt.UTC)) == dt.date(2026, 1, 1)
    assert rules.today(dt.datetime(2026, 1, 1, 16, 0, tzinfo=dt.UTC)) == dt.date(2026, 1, 2)
    assert rules.end_of_day(dt.date(2026, 1, 1)) == dt.datetime(2026, 1, 1, 16, tzinfo=dt.UTC)


def test_no_template_formats_a_time_itself() -> None:
    """Every time on a page goes through the Beijing-time filters (a bare strftime shows UTC)."""
    root = Path(__file__).resolve().parent.parent / "src" / "ctown"
    offenders = [str(p.relative_to(root)) for p in root.glob("*/templates/**/*.html")
                 if ".strftime(" in p.read_text(encoding="utf-8")]
    assert offenders == []
