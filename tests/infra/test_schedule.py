"""Schedule expressions as EventBridge Scheduler reads them: the grammar, the day-of-week
numbering (1 is Sunday), L, W and #, the year field, daylight saving, and the longest gap."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from infra.config import ConfigError, from_context
from infra.config.cron import Cron, longest_gap, parse

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2028, 1, 1, tzinfo=UTC)


def runs(expression: str, zone: str = "UTC", count: int = 6) -> list[str]:
    """The first runs after START, as local wall-clock times."""
    schedule = parse(expression, zone)
    assert isinstance(schedule, Cron)
    found: list[str] = []
    moment: datetime | None = START
    while moment is not None and len(found) < count:
        moment = schedule.after(moment, END)
        if moment is not None:
            found.append(moment.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M"))
    return found


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("cron(0 2 ? * 1 *)", ["Sun 2026-01-04 02:00", "Sun 2026-01-11 02:00"]),
        ("cron(0 2 ? * SUN *)", ["Sun 2026-01-04 02:00", "Sun 2026-01-11 02:00"]),
        ("cron(0 2 ? * 7 *)", ["Sat 2026-01-03 02:00", "Sat 2026-01-10 02:00"]),
        ("cron(0 2 ? * L *)", ["Sat 2026-01-03 02:00", "Sat 2026-01-10 02:00"]),
        ("cron(0 2 ? * 2-6 *)", ["Thu 2026-01-01 02:00", "Fri 2026-01-02 02:00"]),
        ("cron(0 2 ? * 6L *)", ["Fri 2026-01-30 02:00", "Fri 2026-02-27 02:00"]),
        ("cron(0 2 ? * 6#3 *)", ["Fri 2026-01-16 02:00", "Fri 2026-02-20 02:00"]),
        ("cron(0 2 ? * FRI#3 *)", ["Fri 2026-01-16 02:00", "Fri 2026-02-20 02:00"]),
        ("cron(0 2 L * ? *)", ["Sat 2026-01-31 02:00", "Sat 2026-02-28 02:00"]),
        # 15 February 2026 is a Sunday: the nearest weekday is Monday the 16th.
        ("cron(0 2 15W * ? *)", ["Thu 2026-01-15 02:00", "Mon 2026-02-16 02:00"]),
        ("cron(0 2 1 JAN,JUL ? *)", ["Thu 2026-01-01 02:00", "Wed 2026-07-01 02:00"]),
        ("cron(0/20 2 * * ? *)", ["Thu 2026-01-01 02:00", "Thu 2026-01-01 02:20"]),
        ("cron(0 2 1 1 ? 2027)", ["Fri 2027-01-01 02:00"]),
    ],
)
def test_cron_fields_mean_what_eventbridge_scheduler_means(
    expression: str, expected: list[str]
) -> None:
    assert runs(expression, count=len(expected)) == expected


def test_weekdays_are_monday_to_friday() -> None:
    days = {run[:3] for run in runs("cron(30 1 ? * MON-FRI *)", count=10)}

    assert days == {"Mon", "Tue", "Wed", "Thu", "Fri"}
    assert runs("cron(30 1 ? * 2-6 *)", count=10) == runs("cron(30 1 ? * MON-FRI *)", count=10)


@pytest.mark.parametrize(
    ("expression", "complaint"),
    [
        ("cron(0 2 * * * *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 2 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 2 * * ?)", "six fields"),
        ("cron(0 2 * * ? * *)", "six fields"),
        ("cron(60 2 * * ? *)", "minutes '60' is not a value from 0 to 59"),
        ("cron(0 24 * * ? *)", "hours '24'"),
        ("cron(0 2 32 * ? *)", "day-of-month '32'"),
        ("cron(0 2 * 13 ? *)", "month '13'"),
        ("cron(0 2 ? * 0 *)", "day-of-week '0' is not a value from 1 to 7 or SUN-SAT"),
        ("cron(0 2 ? * 8 *)", "day-of-week '8'"),
        ("cron(0 2 ? * MON/2 *)", "day-of-week takes no / increments"),
        ("cron(0 2 ? * 6#6 *)", "the week after # must be 1-5"),
        ("cron(0 2 1W,15W * ? *)", "L and W stand alone"),
        ("cron(0 2 LW * ? *)", "LW"),
        ("cron(0 2 5-1 * ? *)", "runs backwards"),
        ("cron(0 ? * * ? *)", "? is only for day-of-month or day-of-week"),
        ("cron(0 2 * * ? 1969)", "year '1969'"),
        ("rate(1 days)", "rate(1 day) for one"),
        ("rate(5 minute)", "rate(5 minutes) for more"),
        ("rate(0 hours)", "N at least 1"),
        ("rate(2 weeks)", "rate(N minutes|hours|days)"),
        ("at(2026-03-01T02:00:00)", "one-time at(...) schedules are not supported"),
        ("0 2 * * *", "must be cron(minutes hours day-of-month month day-of-week year)"),
    ],
)
def test_expressions_eventbridge_scheduler_refuses_are_refused(
    expression: str, complaint: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(complaint)):
        parse(expression, "UTC")


def test_a_time_the_clocks_skip_is_skipped_and_a_repeated_time_runs_once() -> None:
    # Europe/London: 01:30 does not exist on 29 March 2026 and happens twice on 25 October.
    year = runs("cron(30 1 * * ? *)", "Europe/London", 365)

    assert "Sun 2026-03-29 01:30" not in year
    assert {"Sat 2026-03-28 01:30", "Mon 2026-03-30 01:30"} <= set(year)
    assert year.count("Sun 2026-10-25 01:30") == 1
    assert len([r for r in year if " 2026-" in r]) == 365 - 1


@pytest.mark.parametrize(
    ("expression", "zone", "hours", "around"),
    [
        ("cron(0 2 * * ? *)", "UTC", 24, None),
        # The skipped 01:30 makes two days of one gap.
        ("cron(30 1 * * ? *)", "Europe/London", 47, "Sat 2026-03-28 01:30"),
        # Friday to Monday, over the weekend the clocks go back.
        ("cron(30 1 ? * MON-FRI *)", "Europe/London", 73, "Fri 2026-10-23 01:30"),
        ("cron(0 2 ? * SUN *)", "UTC", 168, None),
        ("cron(0 2 1 * ? *)", "UTC", 744, None),
        ("rate(12 hours)", "UTC", 12, None),
        # Every quarter of an hour on weekdays: the weekend is the gap.
        ("cron(0/15 * ? * MON-FRI *)", "UTC", 48.25, "Fri 2026-01-02 23:45"),
    ],
)
def test_longest_gap_between_two_runs_over_a_year(
    expression: str, zone: str, hours: float, around: str | None
) -> None:
    gap = longest_gap(expression, zone, START)

    assert gap is not None
    assert gap.hours == hours
    if around is not None:
        assert gap.after.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M") == around


def test_a_schedule_that_stops_has_no_gap() -> None:
    assert longest_gap("cron(0 2 * * ? 2026)", "UTC", START) is None
    assert longest_gap("cron(0 2 30 2 ? *)", "UTC", START) is None


def test_watchdog_is_derived_from_the_schedule() -> None:
    # The longest gap, plus the 3-hour backup deadline, plus an hour.
    assert from_context({}).watchdog == 24 + 3 + 1
    weekdays = {"schedule": "cron(30 1 ? * MON-FRI *)", "timeZone": "Europe/London"}
    assert from_context(weekdays).watchdog == 73 + 3 + 1
    assert from_context({**weekdays, "deadlineSeconds": 3600}).watchdog == 73 + 1 + 1
    # Never more than CloudWatch can watch.
    assert from_context({"schedule": "cron(0 2 ? * SUN *)"}).watchdog == 168


def test_a_watchdog_shorter_than_the_schedule_gap_is_refused_with_the_gap() -> None:
    weekdays = {"schedule": "cron(30 1 ? * MON-FRI *)", "timeZone": "Europe/London"}

    with pytest.raises(ConfigError) as excinfo:
        from_context({**weekdays, "watchdogHours": 26})

    message = str(excinfo.value)
    assert message.startswith("context key watchdogHours=26: is shorter than")
    assert "73 hours, from Fri" in message
    assert "Use at least 73" in message
    assert from_context({**weekdays, "watchdogHours": 73}).watchdog == 73


@pytest.mark.parametrize(
    ("context", "complaint"),
    [
        ({"schedule": "cron(0 2 * * * *)"}, "context key schedule="),
        ({"schedule": "cron(0 2 1 * ? *)"}, "744 hours"),
        ({"schedule": "cron(0 2 * * ? 2020)"}, "has no run in the coming year"),
        ({"schedule": "cron(0 2 * * ? *)", "timeZone": "Mars/Olympus"}, "context key timeZone="),
    ],
)
def test_a_schedule_the_product_cannot_watch_is_refused(
    context: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        from_context(context)
