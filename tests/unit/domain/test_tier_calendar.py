"""Retention tiers on the calendar: which tier each backup of a run of slots gets, through the
planner (a walk of slots, each planned and its backup made) and through tiers.tier_for.

The schedule's time zone is never UTC here, and every slot's UTC date differs from its local
date: Pacific/Auckland at 01:00 (the previous day in UTC, at 12:00 or 13:00 with its DST) and
America/Los_Angeles at 20:00 (the next day in UTC). The expected tiers are written out by hand
from the rule: the first successful backup of a local calendar month is monthly, else the first
of an ISO week is weekly, else daily; only OK or in-progress backups of scheduled runs hold their
period, and a manual run's backup is daily.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.planner import Action, plan
from backup_orchestrator.domain.records import Backup, Proof
from backup_orchestrator.domain.tiers import Retention, Tier, tier_for
from tests.support.planning import NOW, backup, policy, quota_for, server

AUCKLAND = ZoneInfo("Pacific/Auckland")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
ONE_AM = time(1, 0)
EIGHT_PM = time(20, 0)
NAME = "chef-a"
# Tiers roomy enough that no backup a period depends on is deleted in these walks.
ROOMY = Retention(daily=7, weekly=5, monthly=3)

M, W, D = Tier.MONTHLY, Tier.WEEKLY, Tier.DAILY
# What becomes of a run's backup: it ends OK, or FAILED; the server is busy at the slot (no
# backup); the backup is still in progress at the next run, and ends OK or FAILED after it.
OK, FAILED, BUSY = "OK", "FAILED", "BUSY"
RUNNING_THEN_OK, RUNNING_THEN_FAILED = "RUNNING_THEN_OK", "RUNNING_THEN_FAILED"


def slot(day: str, zone: ZoneInfo = AUCKLAND, at: time = ONE_AM) -> datetime:
    """The schedule's slot on local `day` (an ISO date) at local time `at`, in UTC as the
    schedule delivers it."""
    return datetime.combine(date.fromisoformat(day), at, tzinfo=zone).astimezone(UTC)


def days(first: str, last: str, *, weekdays: bool = False) -> list[str]:
    """Every local day from `first` to `last` (ISO dates), Monday to Friday only if `weekdays`."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    every = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    return [d.isoformat() for d in every if not weekdays or d.isoweekday() <= 5]


@dataclass(frozen=True)
class Run:
    """One run of the walk: the scheduled slot of local `day`, or (with `manual`, its request
    id) a manual run at local time `at` that day; and what becomes of its backup."""

    day: str
    outcome: str = OK
    manual: str | None = None
    at: time | None = None


def made_at(when: datetime) -> float:
    """`days_ago` for planning.backup: a backup created at `when`."""
    return (NOW - when) / timedelta(days=1)


def walk(
    runs: Sequence[Run | str],
    zone: ZoneInfo = AUCKLAND,
    *,
    at: time = ONE_AM,
    retention: Retention = ROOMY,
    before: Sequence[Backup] = (),
) -> list[Tier | None]:
    """The tier of each run's backup, or None when the run made none (`walk_keeping`)."""
    return walk_keeping(runs, zone, at=at, retention=retention, before=before)[0]


def walk_keeping(
    runs: Sequence[Run | str],
    zone: ZoneInfo = AUCKLAND,
    *,
    at: time = ONE_AM,
    retention: Retention = ROOMY,
    before: Sequence[Backup] = (),
) -> tuple[list[Tier | None], list[Backup]]:
    """Plan each run in turn for one server and make its backup as the plan says (its tier in
    its marker), as the service and the tracker would: a backup that ends OK has its run's
    deletions applied; a FAILED one keeps everything. The tier of each run's backup (None when
    the run made none), and the server's backups at the end. `before`: its backups before."""
    backups = list(before)
    tiers: list[Tier | None] = []
    ending: dict[str, str] = {}
    for item in runs:
        run = Run(item) if isinstance(item, str) else item
        when = slot(run.day, zone, run.at or at)
        run_id = marker.manual_run_id(run.manual) if run.manual else marker.scheduled_run_id(when)
        status = "UNDER_MAINTENANCE" if run.outcome == BUSY else "HEALTHY"
        asked = policy(
            retention=retention,
            zone=zone,
            run_id=run_id,
            servers=(NAME,) if run.manual else None,
        )
        [part] = plan([server(NAME, status)], backups, quota_for(backups), asked).servers
        # A backup still in progress at this run ends after it.
        backups = [
            dataclasses.replace(b, status=ending.pop(b.backup_id)) if b.backup_id in ending else b
            for b in backups
        ]
        if run.outcome == BUSY:
            assert part.action is Action.FAIL, part
        if not part.create:
            tiers.append(None)
            continue
        assert part.tier is not None
        running = run.outcome in (RUNNING_THEN_OK, RUNNING_THEN_FAILED)
        made = backup(
            NAME,
            made_at(when + timedelta(minutes=1)),
            status="IN_PROGRESS" if running else run.outcome,
            description=marker.description(run_id, "scheduled backup", part.tier),
        )
        assert made.tier is part.tier
        backups.append(made)
        if running:
            ending[made.backup_id] = "OK" if run.outcome == RUNNING_THEN_OK else "FAILED"
        elif made.status == "OK":
            gone = {d.backup_id for d in [*part.delete_now, *part.deferred]}
            backups = [b for b in backups if b.backup_id not in gone]
        tiers.append(part.tier)
    return tiers, backups


# ---- the premises of the scenarios ----------------------------------------------------------


def test_every_slot_here_falls_on_another_utc_date_than_its_local_one() -> None:
    for day in days("2026-01-01", "2027-01-10"):
        assert slot(day).date() == date.fromisoformat(day) - timedelta(days=1)
        assert slot(day, LOS_ANGELES, EIGHT_PM).date() == date.fromisoformat(day) + timedelta(
            days=1
        )


# ---- daylight saving time -------------------------------------------------------------------


def test_across_aucklands_april_dst_change_the_local_date_decides() -> None:
    # Given daily slots at 01:00 in Auckland from Monday 23 March to 8 April 2026; DST ends on
    # Sunday 5 April, so the slots move from 12:00 to 13:00 UTC of the day before
    runs = days("2026-03-23", "2026-04-08")
    assert {slot(d).hour for d in days("2026-03-23", "2026-04-05")} == {12}
    assert {slot(d).hour for d in days("2026-04-06", "2026-04-08")} == {13}

    # When each slot is planned and its backup made
    tiers = walk(runs)

    # Then the first of March (the first ever) and Wednesday 1 April (31 March in UTC) are
    # monthly, Monday 30 March (a Sunday in UTC) and Monday 6 April weekly
    assert tiers == [M, D, D, D, D, D, D, W, D, M, D, D, D, D, W, D, D]


def test_across_aucklands_september_dst_change_the_local_date_decides() -> None:
    # Given daily slots from Monday 21 September to 6 October 2026; DST starts on Sunday 27
    # September, so the slots move from 13:00 to 12:00 UTC of the day before
    runs = days("2026-09-21", "2026-10-06")
    assert {slot(d).hour for d in days("2026-09-21", "2026-09-27")} == {13}
    assert {slot(d).hour for d in days("2026-09-28", "2026-10-06")} == {12}

    tiers = walk(runs)

    # Then Monday 21 September (the first ever) and Thursday 1 October are monthly, Mondays 28
    # September and 5 October weekly
    assert tiers == [M, D, D, D, D, D, D, W, D, D, M, D, D, D, W, D]


# ---- month boundaries -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "at", "first", "last", "expected"),
    [
        # 1 July is still 30 June in UTC: monthly all the same; Monday 6 July weekly.
        (AUCKLAND, ONE_AM, "2026-06-29", "2026-07-07", [M, D, M, D, D, D, D, W, D]),
        # 31 January is already 1 February in UTC: not monthly; Sunday 1 February is, and
        # Monday 2 February (the 3rd in UTC) is weekly.
        (LOS_ANGELES, EIGHT_PM, "2026-01-26", "2026-02-03", [M, D, D, D, D, D, M, W, D]),
    ],
    ids=[
        "auckland-first-slot-of-the-month-is-the-day-before-in-utc",
        "los-angeles-last-slot-is-next-month-in-utc",
    ],
)
def test_a_local_month_boundary_decides_the_monthly_backup(
    zone: ZoneInfo, at: time, first: str, last: str, expected: list[Tier | None]
) -> None:
    runs = days(first, last)
    # The premise: the UTC month of the slots around the boundary is not their local month.
    if zone is AUCKLAND:
        assert slot("2026-07-01", zone, at).month == 6
    else:
        assert slot("2026-01-31", zone, at).month == 2

    assert walk(runs, zone, at=at) == expected


def test_a_failed_and_a_busy_first_slot_pass_the_month_to_the_next_good_backup() -> None:
    # Given the backup of Saturday 1 August fails and the server is busy on Sunday 2 August
    runs: list[Run | str] = [
        *days("2026-07-27", "2026-07-31"),
        Run("2026-08-01", FAILED),
        Run("2026-08-02", BUSY),
        *days("2026-08-03", "2026-08-05"),
    ]

    tiers = walk(runs)

    # Then the failed one was made monthly, the busy slot made none, and Monday 3 August is
    # monthly (holding its week too, so the 4th is daily)
    assert tiers == [M, D, D, D, D, M, None, M, D, D]


def test_a_first_backup_in_progress_at_the_next_slot_keeps_the_month_unless_it_fails() -> None:
    # Given the backup of Tuesday 1 September is still in progress at the next slot
    held = walk(
        [
            "2026-08-31",
            Run("2026-09-01", RUNNING_THEN_OK),
            *days("2026-09-02", "2026-09-04"),
        ]
    )
    # And, another time, one that is in progress at the next slot and then fails
    failed = walk(
        [
            "2026-08-31",
            Run("2026-09-01", RUNNING_THEN_FAILED),
            *days("2026-09-02", "2026-09-04"),
        ]
    )

    # Then the slot it is in progress at makes no second backup; once it is OK it holds the
    # month (and the week), once it has failed the next backup is monthly
    assert held == [M, M, None, D, D]
    assert failed == [M, M, None, M, D]


# ---- ISO weeks ------------------------------------------------------------------------------


def test_a_busy_or_failed_monday_passes_the_week_to_tuesday() -> None:
    # Given Monday 10 August busy, and Monday 17 August's backup failing
    runs: list[Run | str] = [
        *days("2026-08-05", "2026-08-09"),
        Run("2026-08-10", BUSY),
        *days("2026-08-11", "2026-08-16"),
        Run("2026-08-17", FAILED),
        *days("2026-08-18", "2026-08-25"),
    ]

    tiers = walk(runs)

    # Then Tuesdays 11 and 18 August are weekly; Monday 24 August is weekly again
    assert tiers == [
        M, D, D, D, D,  # 5-9 August: the first ever, then Thursday to Sunday
        None, W, D, D, D, D, D,  # 10-16 August: busy Monday
        W, W, D, D, D, D, D,  # 17-23 August: the failed Monday was weekly, then Tuesday is
        W, D,  # 24-25 August
    ]  # fmt: skip


def test_the_iso_week_over_the_year_end_is_one_week() -> None:
    # Given slots from Monday 21 December 2026 to 6 January 2027: 28 December to 3 January is
    # ISO week 53 of 2026
    assert {date.fromisoformat(d).isocalendar()[:2] for d in days("2026-12-28", "2027-01-03")} == {
        (2026, 53)
    }

    tiers = walk(days("2026-12-21", "2027-01-06"))

    # Then Monday 28 December is weekly, Friday 1 January monthly (in the same ISO week), and
    # the next weekly is Monday 4 January, the first of ISO week 1 of 2027
    assert tiers == [M, D, D, D, D, D, D, W, D, D, D, M, D, D, W, D, D]


def test_a_busy_monday_at_the_year_end_passes_the_week_to_tuesday() -> None:
    runs: list[Run | str] = [
        *days("2026-12-21", "2026-12-27"),
        Run("2026-12-28", BUSY),
        *days("2026-12-29", "2027-01-05"),
    ]

    tiers = walk(runs)

    assert tiers == [M, D, D, D, D, D, D, None, W, D, D, M, D, D, W, D]


def test_a_month_that_starts_on_a_monday_holds_the_week_with_its_monthly() -> None:
    tiers = walk(days("2026-05-25", "2026-06-03"))

    # Then Monday 1 June is monthly, and no weekly follows it that week
    assert tiers == [M, D, D, D, D, D, D, M, D, D]


def test_a_week_over_a_month_boundary_is_held_by_the_months_first_backup() -> None:
    # Given Monday 29 June busy and Tuesday 30 June's backup failing
    runs: list[Run | str] = [
        *days("2026-06-22", "2026-06-28"),
        Run("2026-06-29", BUSY),
        Run("2026-06-30", FAILED),
        *days("2026-07-01", "2026-07-07"),
    ]

    tiers = walk(runs)

    # Then Wednesday 1 July is monthly and holds the week too: Thursday is daily, and the next
    # weekly is Monday 6 July
    assert tiers == [M, D, D, D, D, D, D, None, W, M, D, D, D, D, W, D]


def test_the_months_first_backup_stays_its_only_monthly_after_retention_deletes_it() -> None:
    # Given tiers without a monthly count: the month's first backup is kept only as a daily or
    # weekly one, so retention deletes it within its month
    tiers, kept = walk_keeping(
        days("2026-06-29", "2026-07-21"), retention=Retention(daily=3, weekly=2)
    )

    # Then no later backup of July is monthly: it is still not the first of the month
    assert tiers == [
        M, D,  # 29-30 June (the first ever)
        M, D, D, D, D,  # Wednesday 1 to Sunday 5 July
        W, D, D, D, D, D, D,  # 6-12 July
        W, D, D, D, D, D, D,  # 13-19 July
        W, D,  # 20-21 July
    ]  # fmt: skip
    # And the two newest weeklies (Mondays 13 and 20 July) are kept with the newest three
    kept_days = sorted(b.created_at.astimezone(AUCKLAND).day for b in kept)
    assert kept_days == [13, 19, 20, 21]


# ---- a weekday schedule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("2026-07-27", "2026-08-11"),  # 1 August 2026 is a Saturday
        ("2026-10-26", "2026-11-10"),  # 1 November 2026 is a Sunday
    ],
)
def test_a_weekday_schedule_makes_the_months_first_weekday_slot_monthly(
    first: str, last: str
) -> None:
    runs = days(first, last, weekdays=True)
    assert len(runs) == 12

    tiers = walk(runs)

    # Then the first Monday of the month is monthly (and holds its week: in UTC it is a
    # Sunday), and the Monday after is weekly
    assert tiers == [M, D, D, D, D, M, D, D, D, D, W, D]


# ---- manual runs ----------------------------------------------------------------------------


def test_manual_runs_make_daily_backups_and_hold_no_period() -> None:
    # Given the slot of Saturday 1 August busy, a manual run later that day, and a manual run
    # on Monday 3 August before that day's slot
    runs: list[Run | str] = [
        "2026-07-31",
        Run("2026-08-01", BUSY),
        Run("2026-08-01", manual="req-aug-1", at=time(10, 0)),
        "2026-08-02",
        Run("2026-08-03", manual="req-aug-3", at=time(0, 30)),
        "2026-08-03",
        "2026-08-04",
    ]

    tiers = walk(runs)

    # Then the manual runs' backups are daily, and the scheduled slots after them still take
    # the month (2 August) and the week (3 August)
    assert tiers == [M, None, D, M, D, W, D]


def test_a_manual_runs_backup_marked_monthly_holds_no_month() -> None:
    # Given a backup of a manual run on 1 August whose marker says monthly
    manual = backup(
        NAME,
        made_at(slot("2026-08-01", at=time(10, 0))),
        description=marker.description(marker.manual_run_id("req1"), "by hand", M),
    )

    tiers = walk(days("2026-08-02", "2026-08-04"), before=[manual])

    assert tiers == [M, W, D]


def test_a_backup_whose_tags_do_not_prove_the_marker_holds_no_period() -> None:
    # Given a backup carrying the marker of 1 August's slot, monthly, typed by hand: its tags
    # were read and hold no run tag (not the product's)
    typed = dataclasses.replace(
        backup(
            NAME,
            made_at(slot("2026-08-01") + timedelta(hours=9)),
            description=marker.description(marker.scheduled_run_id(slot("2026-08-01")), "typed", M),
        ),
        proof=Proof.UNTAGGED,
    )

    tiers = walk(days("2026-08-02", "2026-08-04"), before=[typed])

    # Then the first backup the product makes in August is monthly
    assert tiers == [M, W, D]


# ---- tier_for directly ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "at", "when", "held", "expected"),
    [
        # 1 April 01:00 NZDT (31 March in UTC); March's monthly held: a new month.
        (AUCKLAND, ONE_AM, "2026-04-01", [("2026-03-23", M), ("2026-03-30", W)], M),
        # 2 April; 1 April's monthly (31 March in UTC) holds April and its week.
        (AUCKLAND, ONE_AM, "2026-04-02", [("2026-03-30", W), ("2026-04-01", M)], D),
        # Monday 6 April 01:00 NZST (5 April, a Sunday, in UTC): a new week.
        (AUCKLAND, ONE_AM, "2026-04-06", [("2026-04-01", M)], W),
        # Sunday 5 April 01:00 NZDT (4 April in UTC), 30 March's weekly held: the same week.
        (AUCKLAND, ONE_AM, "2026-04-05", [("2026-04-01", M), ("2026-03-30", W)], D),
        # 31 January 20:00 PST is 1 February in UTC: January's monthly holds it.
        (LOS_ANGELES, EIGHT_PM, "2026-01-31", [("2026-01-05", M), ("2026-01-26", W)], D),
        # 1 February; the held 31 January backup (1 February in UTC) is of January.
        (LOS_ANGELES, EIGHT_PM, "2026-02-01", [("2026-01-05", M), ("2026-01-31", M)], M),
        # Saturday 2 January 2027 is in ISO week 53 of 2026, held by 28 December's weekly; the
        # new year's month is not held.
        (AUCKLAND, ONE_AM, "2027-01-02", [("2026-12-01", M), ("2026-12-28", W)], M),
        (AUCKLAND, ONE_AM, "2027-01-03", [("2026-12-28", W), ("2027-01-01", M)], D),
        (AUCKLAND, ONE_AM, "2027-01-04", [("2026-12-28", W), ("2027-01-01", M)], W),
        # Whatever its tier, a backup holds its month and its week: the month's first backup was
        # its monthly, and it may have been deleted since.
        (AUCKLAND, ONE_AM, "2026-08-05", [("2026-08-04", D), ("2026-08-03", D)], D),
        (AUCKLAND, ONE_AM, "2026-08-04", [("2026-08-03", W)], D),
        (AUCKLAND, ONE_AM, "2026-08-10", [("2026-08-04", D)], W),
    ],
)
def test_tier_for_reads_the_slot_and_the_held_backups_in_the_zone(
    zone: ZoneInfo,
    at: time,
    when: str,
    held: list[tuple[str, Tier]],
    expected: Tier,
) -> None:
    holding = [slot(day, zone, at) for day, _ in held]

    assert tier_for(slot(when, zone, at), zone, holding) is expected


def test_tier_for_a_manual_run_is_daily() -> None:
    assert tier_for(None, AUCKLAND, []) is D
