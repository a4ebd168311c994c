"""Retention tiers end to end: slot after slot of a daily schedule in Europe/Berlin, through the
orchestrator's handler (with the synthesized function environment), the synthesized tracker in
moto's Step Functions, and the emulator.

The schedule fires at 00:30 local time, the previous day in UTC all year (23:30 in winter,
22:30 in summer). What each server must hold at the end is worked out here by a small oracle
written from the rules, not from the product's code:

* a backup's tier comes from its slot's local date: the first successful backup of a local
  calendar month is monthly, else the first successful one of an ISO week is weekly, else daily;
* a backup is kept while it is among the newest `count` backups of a tier it holds (a monthly
  holds all three tiers, a weekly the weekly and daily ones); the rest, and failed backups, go
  once a newer backup is OK; backups the product did not make are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import pytest

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.domain import marker
from backup_orchestrator.domain.tiers import Tier
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.cloud import LocalCloud
from local.emulator import Emulator, ManualClock
from local.emulator.backend import Backup as EmulatedBackup
from local.runtime import wait_for_execution
from tests.conftest import FakeLambdaContext
from tests.e2e.conftest import Setup

CLOUD = Setup(machines=("Tracker",))

BERLIN = ZoneInfo("Europe/Berlin")
AT = time(0, 30)
SELECT = {"opsworks-cm-backup": "enabled"}
RETENTION = {"daily": 3, "weekly": 2, "monthly": 2}
OVERRIDE = {"daily": 2, "weekly": 1, "monthly": 1}
LIMIT = 40
RUN_TAG, TIER_TAG = "opsworks-cm-backup:run", "opsworks-cm-backup:tier"
# The product's marker as its grammar is documented: run id (the slot in UTC) and tier.
MARKER = re.compile(
    r"\[opsworks-cm-backup run=scheduled-(\d{8}T\d{6}Z) tier=(daily|weekly|monthly)\] "
    r"scheduled backup"
)
# How each tier counts in the others: a monthly holds all three, a weekly two.
HOLDS = {"daily": {"daily"}, "weekly": {"weekly", "daily"}, "monthly": set(RETENTION)}


def text(counts: dict[str, int]) -> str:
    return " ".join(f"{tier}:{count}" for tier, count in counts.items())


def slot(day: date) -> datetime:
    """The slot of local `day`, in UTC as the schedule delivers it."""
    return datetime.combine(day, AT, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture
def clock() -> ManualClock:
    """The account's clock, before the first slot of these walks."""
    return ManualClock(datetime(2026, 2, 20, 12, 0, tzinfo=UTC))


# ---- the oracle -----------------------------------------------------------------------------


@dataclass
class Expected:
    """What a server's walk must give: the tier of each backup made (by local day), and the
    backups it holds at the end (local day: tier)."""

    made: dict[date, str] = field(default_factory=dict)
    kept: dict[date, str] = field(default_factory=dict)


def oracle(
    days: Sequence[date],
    counts: dict[str, int],
    *,
    failed: Sequence[date] = (),
    busy: Sequence[date] = (),
) -> Expected:
    """One server's backups, walked from the rules: busy days make no backup, failed days one
    that ends FAILED."""
    expected = Expected()
    good: list[tuple[date, str]] = []  # every backup that ended OK, oldest first
    present: list[tuple[date, str, bool]] = []  # (day, tier, ended OK) still in the account
    for day in days:
        if day in busy:
            continue
        month_taken = any(
            tier == "monthly" and (d.year, d.month) == (day.year, day.month) for d, tier in good
        )
        week_taken = any(
            "weekly" in HOLDS[tier] and d.isocalendar()[:2] == day.isocalendar()[:2]
            for d, tier in good
        )
        tier = "daily" if month_taken and week_taken else "weekly" if month_taken else "monthly"
        expected.made[day] = tier
        if day in failed:
            present.append((day, tier, False))
            continue
        good.append((day, tier))
        present.append((day, tier, True))
        newest_first = sorted(((d, t) for d, t, ok in present if ok), reverse=True)
        keep: set[date] = set()
        for level, count in counts.items():
            holding = [d for d, t in newest_first if level in HOLDS[t]]
            keep.update(holding[:count])
        present = [(d, t, ok) for d, t, ok in present if ok and d in keep]
    expected.kept = {d: t for d, t, _ in present}
    return expected


def test_the_oracle_keeps_what_the_rules_say() -> None:
    # Sunday 1 March to Tuesday 10 March 2026, daily:2 weekly:1 monthly:1: 1 March monthly,
    # Monday 2 and Monday 9 weekly; the newest two, the newest weekly, the newest monthly.
    days = [date(2026, 3, d) for d in range(1, 11)]
    expected = oracle(days, OVERRIDE)
    assert [expected.made[d] for d in days] == [
        "monthly",
        "weekly",
        *["daily"] * 6,
        "weekly",
        "daily",
    ]
    assert expected.kept == {
        date(2026, 3, 1): "monthly",
        date(2026, 3, 9): "weekly",
        date(2026, 3, 10): "daily",
    }
    # The 1st failing: Monday 2 March is monthly (holding its week), 9 March weekly.
    failing = oracle(days, OVERRIDE, failed=[date(2026, 3, 1)])
    assert [failing.made[d] for d in days[:3]] == ["monthly", "monthly", "daily"]
    assert failing.kept == {
        date(2026, 3, 2): "monthly",
        date(2026, 3, 9): "weekly",
        date(2026, 3, 10): "daily",
    }


# ---- the walk -------------------------------------------------------------------------------


@dataclass
class Fleet:
    """The servers of the walk, what happens to each, and what they must not lose."""

    days: list[date]
    counts: dict[str, dict[str, int]]
    failed: dict[str, list[date]]
    busy: dict[str, list[date]]
    untouched: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


def seed(emulator: Emulator, first: date) -> dict[str, tuple[str, dict[str, str]]]:
    """The servers, and the backups the product did not make (id: description, tags)."""
    backend = emulator.backend
    backend.add_server("chef-a", tags=SELECT, DisableAutomatedBackup=True)
    backend.add_server("chef-b", tags=SELECT, DisableAutomatedBackup=True)
    backend.add_server(
        "puppet-c",
        engine="Puppet",
        tags={**SELECT, "opsworks-cm-backup:retention": text(OVERRIDE)},
        DisableAutomatedBackup=True,
    )
    start = slot(first)
    made: list[EmulatedBackup] = [
        backend.add_backup("chef-a", start - timedelta(days=20), description="before the upgrade"),
        backend.add_backup("chef-b", start - timedelta(days=3)),
        backend.add_backup("puppet-c", start - timedelta(days=1), description="by hand"),
    ]
    # A marker typed by hand (a slot of the month before the walk, in another ISO week): the
    # product's words, without its run tag.
    typed_slot = slot(first - timedelta(days=35))
    made.append(
        backend.add_backup(
            "chef-b",
            typed_slot + timedelta(minutes=5),
            description=marker.description(
                marker.scheduled_run_id(typed_slot), "scheduled backup", Tier.MONTHLY
            ),
        )
    )
    return {b.backup_id: (b.description, dict(b.tags)) for b in made}


def follow(report: dict[str, Any]) -> list[str]:
    """Run the report's tracker executions to their end; their statuses."""
    sfn = boto3.client("stepfunctions")
    return [wait_for_execution(sfn, arn)["status"] for arn in report["trackerExecutionArns"]]


def walk(
    emulator: Emulator, clock: ManualClock, fleet: Fleet
) -> Iterator[tuple[date, dict[str, Any]]]:
    """Fire each day's slot at its time and follow its backups to their end."""
    backend = emulator.backend
    for day in fleet.days:
        at = slot(day)
        clock.advance((at - clock.now()).total_seconds())
        failing = tuple(name for name, days in fleet.failed.items() if day in days)
        busy = [name for name, days in fleet.busy.items() if day in days]
        emulator.config.fail_backups = failing
        for name in busy:
            backend.set_server_status(name, "UNDER_MAINTENANCE", "patching")
        report = lambda_handler(
            {"source": "schedule", "scheduledTime": f"{at:%Y-%m-%dT%H:%M:%SZ}"},
            FakeLambdaContext(),
        )
        statuses = follow(report)
        assert statuses == ["FAILED" if failing else "SUCCEEDED"], (day, report)
        for name in busy:
            backend.set_server_status(name, "HEALTHY")
        emulator.config.fail_backups = ()
        assert backend.manual_backups_used() <= LIMIT
        yield day, report


def check(emulator: Emulator, clock: ManualClock, fleet: Fleet) -> None:
    backend = emulator.backend
    made: dict[str, dict[date, str]] = {name: {} for name in fleet.counts}
    for day, report in walk(emulator, clock, fleet):
        for result in report["results"]:
            name = result["serverName"]
            if day in fleet.busy.get(name, []):
                assert result["outcome"] == "FAILED", result
                continue
            assert result["outcome"] == "STARTED", result
            made[name][day] = result["retain"]["tier"]
            # Never trimmed for room: every tier as asked.
            assert result["retain"]["tiersGranted"] == result["retain"]["tiersAsked"]
            assert result["retain"]["tiersAsked"] == text(fleet.counts[name])
    # Every deletion has ended.
    clock.advance(hours=1)
    backend.settle()

    expected = {
        name: oracle(
            fleet.days,
            counts,
            failed=fleet.failed.get(name, []),
            busy=fleet.busy.get(name, []),
        )
        for name, counts in fleet.counts.items()
    }
    assert made == {name: e.made for name, e in expected.items()}
    manual = [b for b in backend.backups.values() if b.backup_type == "MANUAL"]
    # The backups the product did not make are there, as they were.
    others = {b.backup_id: (b.description, b.tags) for b in manual if RUN_TAG not in b.tags}
    assert others == fleet.untouched
    assert all(backend.backups[i].status == "OK" for i in fleet.untouched)
    # Each server holds exactly what the rules keep, each backup tagged as its marker says.
    held: dict[str, dict[date, str]] = {name: {} for name in fleet.counts}
    for b in manual:
        if RUN_TAG not in b.tags:
            continue
        found = MARKER.fullmatch(b.description)
        assert found is not None, b.description
        at = datetime.strptime(found[1], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert b.tags == {RUN_TAG: f"scheduled-{found[1]}", TIER_TAG: found[2]}
        assert b.status == "OK"
        assert at <= b.created_at < at + timedelta(hours=1)
        held[b.server_name][at.astimezone(BERLIN).date()] = found[2]
    assert held == {name: e.kept for name, e in expected.items()}
    assert backend.manual_backups_used() == len(fleet.untouched) + sum(
        len(e.kept) for e in expected.values()
    )


def fleet_for(emulator: Emulator, first: date, count: int, **events: Any) -> Fleet:
    return Fleet(
        days=[first + timedelta(days=n) for n in range(count)],
        counts={"chef-a": RETENTION, "chef-b": RETENTION, "puppet-c": OVERRIDE},
        untouched=seed(emulator, first),
        **events,
    )


@pytest.fixture
def tiers_env(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, emulator: Emulator) -> None:
    """The function's settings: tiers, the schedule's zone, no retry of busy servers in a slot;
    a backup ends within the tracker's first poll (a minute), so a slot takes a second."""
    monkeypatch.setenv("RETENTION", text(RETENTION))
    monkeypatch.setenv("TIME_ZONE", "Europe/Berlin")
    monkeypatch.setenv("RETRY_WINDOW_MINUTES", "0")
    get_settings.cache_clear()
    emulator.config.manual_backup_limit = LIMIT
    emulator.config.backup_seconds = 60


def test_twelve_slots_over_a_month_boundary_keep_the_tiers(
    emulator: Emulator, clock: ManualClock, tiers_env: None
) -> None:
    # Given three servers (puppet-c with its own tiers), backups made by hand and one with a
    # marker typed by hand; daily slots from Tuesday 24 February to 7 March 2026, where chef-b's
    # backup of Sunday 1 March fails and puppet-c is busy on Monday 2 March
    fleet = fleet_for(
        emulator,
        date(2026, 2, 24),
        12,
        failed={"chef-b": [date(2026, 3, 1)]},
        busy={"puppet-c": [date(2026, 3, 2)]},
    )
    # (1 March 00:30 in Berlin is still February in UTC)
    assert slot(date(2026, 3, 1)).month == 2

    # When every slot runs, then each server holds what the rules keep (check)
    check(emulator, clock, fleet)


@pytest.mark.chaos
def test_forty_slots_over_two_month_boundaries_and_a_dst_change_keep_the_tiers(
    emulator: Emulator, clock: ManualClock, tiers_env: None
) -> None:
    # Given the same fleet, and daily slots from Sunday 22 February to 2 April 2026 (Berlin's
    # DST starts on 29 March: the slots move from 23:30 to 22:30 UTC of the day before); chef-b's
    # backup of 1 March fails, and puppet-c is busy on Mondays 2 and 30 March
    fleet = fleet_for(
        emulator,
        date(2026, 2, 22),
        40,
        failed={"chef-b": [date(2026, 3, 1)]},
        busy={"puppet-c": [date(2026, 3, 2), date(2026, 3, 30)]},
    )
    assert fleet.days[-1] == date(2026, 4, 2)
    assert (slot(date(2026, 3, 29)).hour, slot(date(2026, 3, 30)).hour) == (23, 22)
    assert slot(date(2026, 4, 1)).month == 3

    check(emulator, clock, fleet)


def test_a_marker_typed_by_hand_takes_no_period_from_the_products_backups(
    emulator: Emulator, clock: ManualClock, tiers_env: None
) -> None:
    # Given a backup made by hand on 28 February whose Description carries the product's marker,
    # monthly, of a run on 1 March at 09:00 (typed: no run tag; not one of the schedule's slots)
    backend = emulator.backend
    backend.add_server("chef-a", tags=SELECT, DisableAutomatedBackup=True)
    first = date(2026, 3, 1)
    claimed = datetime(2026, 3, 1, 9, 0, tzinfo=BERLIN)
    typed = backend.add_backup(
        "chef-a",
        datetime(2026, 2, 28, 18, 0, tzinfo=BERLIN).astimezone(UTC),
        description=marker.description(
            marker.scheduled_run_id(claimed), "scheduled backup", Tier.MONTHLY
        ),
    )
    fleet = Fleet(
        days=[first + timedelta(days=n) for n in range(3)],
        counts={"chef-a": RETENTION},
        failed={},
        busy={},
        untouched={typed.backup_id: (typed.description, {})},
    )

    # When the slots of Sunday 1 to Tuesday 3 March run, then the product's first backup of
    # March is its monthly one (and the typed one is untouched)
    check(emulator, clock, fleet)
