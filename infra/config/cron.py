"""EventBridge Scheduler schedule expressions: the service's grammar, checked at synth time, and
the longest gap between two runs, found in the schedule's time zone with the service's
daylight-saving rules (no CDK import).

Grammar (cron fields: minutes hours day-of-month month day-of-week year):

    minutes       0-59                  , - * /
    hours         0-23                  , - * /
    day-of-month  1-31                  , - * / ? L W
    month         1-12 or JAN-DEC       , - * /
    day-of-week   1-7 or SUN-SAT        , - * ? L #      (1 is Sunday)
    year          1970-2199             , - * /

Exactly one of day-of-month and day-of-week is `?`. A rate is `rate(N unit)`, the unit singular
for 1 (`rate(1 day)`) and plural above (`rate(2 days)`). Daylight saving: a time that does not
exist when the clocks go forward is skipped; a time that happens twice when they go back runs
once.

Runs are computed with croniter on local wall-clock times. Its day-of-week counts from 0 (Sunday),
and it spells the last Friday of the month `L5` where the service says `6L`, so fields are
translated first; the year field is applied here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from croniter import croniter
from croniter.croniter import CroniterError

# CloudWatch evaluates an alarm with hourly periods over at most 7 days.
MAX_WATCH_HOURS = 168
HORIZON = timedelta(days=366)
_HOUR = timedelta(hours=1)
_MINUTE = timedelta(minutes=1)

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_RATE = re.compile(r"^rate\((?P<value>\d+) (?P<unit>minute|hour|day)(?P<plural>s?)\)$")
_UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
_STEP = re.compile(r"^(?P<range>\*|[A-Z0-9]+(?:-[A-Z0-9]+)?)(?:/(?P<step>\d+))?$")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    first_name: int = 1

    def number(self, token: str) -> int:
        """A value of the field; names (JAN, SUN) count from `first_name`. Raises ValueError."""
        if token in self.names:
            return self.names.index(token) + self.first_name
        if not token.isdigit() or not self.low <= int(token) <= self.high:
            raise ValueError(
                f"{self.name} {token!r} is not a value from {self.low} to {self.high}"
                + (f" or {self.names[0]}-{self.names[-1]}" if self.names else "")
            )
        return int(token)

    def values(self, item: str) -> str:
        """Check a plain item (`*`, `a`, `a-b`, with an optional `/step`); return it with names
        turned into numbers, so that the caller may shift them."""
        match = _STEP.match(item)
        if match is None:
            raise ValueError(f"{self.name} item {item!r} is not valid here")
        if match["range"] == "*":
            return item
        bounds = [self.number(t) for t in match["range"].split("-")]
        if bounds != sorted(bounds):
            raise ValueError(f"{self.name} range {item!r} runs backwards")
        step = f"/{match['step']}" if match["step"] else ""
        return "-".join(map(str, bounds)) + step


MINUTES = _Field("minutes", 0, 59)
HOURS = _Field("hours", 0, 23)
DAY_OF_MONTH = _Field("day-of-month", 1, 31)
MONTH = _Field("month", 1, 12, MONTHS)
DAY_OF_WEEK = _Field("day-of-week", 1, 7, DAYS)
YEAR = _Field("year", 1970, 2199)


def _plain(field: _Field, text: str) -> str:
    return ",".join(field.values(item) for item in text.split(","))


def _day_of_month(text: str) -> str:
    if text == "L":
        return "L"
    if text == "LW":
        raise ValueError("day-of-month LW (last weekday) is not supported here; use L or nW")
    if re.fullmatch(r"\d+W", text):  # 15W: the weekday nearest the 15th
        return f"{DAY_OF_MONTH.number(text[:-1])}W"
    if "L" in text or "W" in text:
        raise ValueError(f"day-of-month {text!r}: L and W stand alone (L, 15W), not in lists")
    return _plain(DAY_OF_MONTH, text)


def _weekday(day: int) -> str:
    """The service's day of week (1 = Sunday) as croniter's (0 = Sunday)."""
    return str(day - 1)


def _day_of_week(text: str) -> str:
    if text == "L":  # the last day of the week
        return _weekday(7)
    if text.endswith("L"):  # 6L: the last Friday of the month
        return "L" + _weekday(DAY_OF_WEEK.number(text[:-1]))
    if "#" in text:  # 6#3: the third Friday of the month
        day, _, nth = text.partition("#")
        if nth not in ("1", "2", "3", "4", "5"):
            raise ValueError(f"day-of-week {text!r}: the week after # must be 1-5")
        return f"{_weekday(DAY_OF_WEEK.number(day))}#{nth}"
    if "/" in text:
        raise ValueError("day-of-week takes no / increments")
    items = [DAY_OF_WEEK.values(item) for item in text.split(",")]
    return ",".join(
        days if days == "*" else "-".join(_weekday(int(d)) for d in days.split("-"))
        for days in items
    )


def _years(text: str) -> frozenset[int] | None:
    """The years the field allows, None for any."""
    if text == "*":
        return None
    allowed: set[int] = set()
    for item in _plain(YEAR, text).split(","):
        bounds, _, step = item.partition("/")
        first, _, last = bounds.partition("-")
        low = YEAR.low if first == "*" else int(first)
        high = int(last) if last else (YEAR.high if step or first == "*" else low)
        allowed.update(range(low, high + 1, int(step or 1)))
    return frozenset(allowed)


@dataclass(frozen=True)
class Gap:
    """The longest time between two consecutive runs, and the runs around it (in UTC); and the
    shortest time between two runs (under an hour, only roughly: such runs are stepped over)."""

    hours: float
    after: datetime
    before: datetime
    shortest_hours: float = 0.0

    def describe(self, zone: ZoneInfo) -> str:
        def local(moment: datetime) -> str:
            return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")

        return f"{self.hours:g} hours, from {local(self.after)} to {local(self.before)} {zone.key}"


@dataclass(frozen=True)
class Cron:
    """A cron schedule as croniter reads it, with the year field kept aside."""

    expression: str
    years: frozenset[int] | None
    zone: ZoneInfo

    def _aware(self, wall: datetime) -> datetime | None:
        """The UTC moment of a local wall-clock time, None when it does not exist (the clocks
        went forward over it); a repeated time is its first occurrence."""
        moment = wall.replace(tzinfo=self.zone).astimezone(UTC)
        return moment if moment.astimezone(self.zone).replace(tzinfo=None) == wall else None

    def _wall(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone).replace(tzinfo=None)

    def after(self, moment: datetime, until: datetime) -> datetime | None:
        """The first run after `moment`, None when there is none before `until`."""
        runs = croniter(self.expression, self._wall(moment))
        while True:
            try:
                wall = runs.get_next(datetime)
            except CroniterError:  # no date matches (30 February), within croniter's reach
                return None
            if self.years is not None and wall.year not in self.years:
                later = [y for y in self.years if y > wall.year]
                if not later or datetime(min(later), 1, 1) > self._wall(until):
                    return None
                runs = croniter(self.expression, datetime(min(later), 1, 1) - _MINUTE)
                continue
            run = self._aware(wall)
            if run is None or run <= moment:
                continue
            return run if run < until else None

    def last_before(self, moment: datetime, earliest: datetime) -> datetime:
        """The last run before `moment`, at least `earliest` (itself a run)."""
        runs = croniter(self.expression, self._wall(moment))
        while True:
            run = self._aware(runs.get_prev(datetime))
            if run is not None and earliest <= run < moment:
                return run
            if run is not None and run < earliest:
                return earliest


@dataclass(frozen=True)
class Rate:
    every: timedelta


def parse(expression: str, zone: str) -> Cron | Rate:
    """Check a schedule expression against EventBridge Scheduler's grammar.

    Raises ValueError saying what is wrong, in the service's terms.
    """
    text = expression.strip()
    if text.startswith("at("):
        raise ValueError(
            "one-time at(...) schedules are not supported: backups need a recurring schedule, "
            "cron(...) or rate(...)"
        )
    if text.startswith("rate("):
        return _rate(text)
    if not (text.startswith("cron(") and text.endswith(")")):
        raise ValueError(
            "must be cron(minutes hours day-of-month month day-of-week year) or rate(N unit), "
            "for example cron(0 2 * * ? *)"
        )
    fields = text[len("cron(") : -1].upper().split()
    if len(fields) != 6:
        raise ValueError(
            f"a cron expression has six fields (minutes hours day-of-month month day-of-week "
            f"year), this one has {len(fields)}, for example cron(0 2 * * ? *)"
        )
    minutes, hours, day, month, weekday, year = fields
    if (day == "?") == (weekday == "?"):
        raise ValueError(
            "exactly one of day-of-month and day-of-week must be ?, for example "
            "cron(0 2 * * ? *) (every day) or cron(0 2 ? * MON-FRI *) (weekdays)"
        )
    for name, value in (("minutes", minutes), ("hours", hours), ("month", month), ("year", year)):
        if "?" in value:
            raise ValueError(f"? is only for day-of-month or day-of-week, not {name}")
    translated = " ".join(
        [
            _plain(MINUTES, minutes),
            _plain(HOURS, hours),
            "*" if day == "?" else _day_of_month(day),
            _plain(MONTH, month),
            "*" if weekday == "?" else _day_of_week(weekday),
        ]
    )
    try:
        croniter(translated)
    except CroniterError as exc:
        raise ValueError(f"is not a valid cron expression ({exc})") from None
    return Cron(translated, _years(year), ZoneInfo(zone))


def _rate(text: str) -> Rate:
    match = _RATE.match(text)
    if match is None or int(match["value"]) < 1:
        raise ValueError(
            "a rate is rate(N minutes|hours|days) with N at least 1, for example rate(12 hours)"
        )
    value = int(match["value"])
    if (value == 1) == bool(match["plural"]):
        unit = match["unit"]
        raise ValueError(
            f"write rate(1 {unit}) for one and rate({max(value, 2)} {unit}s) for more: "
            "the unit is singular only for 1"
        )
    return Rate(value * _UNITS[match["unit"]])


def longest_gap(expression: str, zone: str, start: datetime) -> Gap | None:
    """The longest time between two consecutive runs, looking at the runs in the year after
    `start`; None when the schedule has no run in that year or stops running (for example its
    year field ends). Raises ValueError for an expression `parse` rejects."""
    schedule = parse(expression, zone)
    if isinstance(schedule, Rate):
        every = schedule.every / _HOUR
        return Gap(every, start, start + schedule.every, shortest_hours=every)
    return _cron_gap(schedule, start)


def _cron_gap(schedule: Cron, start: datetime) -> Gap | None:
    # The run after the year's last one may come up to a year later (a yearly schedule).
    until = start + 2 * HORIZON
    run = schedule.after(start, until)
    longest: Gap | None = None
    shortest = float("inf")
    while run is not None and run < start + HORIZON:
        following = schedule.after(run, until)
        if following is None:
            return None
        gap = following - run
        shortest = min(shortest, gap / _HOUR)
        if longest is None or gap / _HOUR > longest.hours:
            longest = Gap(gap / _HOUR, run, following)
        # Runs less than an hour apart cannot hold the longest gap (a watch counts hours):
        # step over them an hour at a time instead of one by one.
        run = schedule.last_before(run + _HOUR, following) if gap < _HOUR else following
    return None if longest is None else replace(longest, shortest_hours=shortest)


@lru_cache(maxsize=16)
def _cached_gap(expression: str, zone: str, start: datetime) -> Gap | None:
    return longest_gap(expression, zone, start)


def coming_gap(expression: str, zone: str) -> Gap | None:
    """`longest_gap` over the coming year, from the start of the current hour (cached: the
    configuration asks more than once)."""
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return _cached_gap(expression, zone, hour)
