"""The slot's next try for the servers a run left RETRYING (next_try.py), as a one-time schedule
(EventBridge Scheduler in moto); a try that cannot be scheduled turns them FAILED, with the
reason (safety rule 12)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from backup_orchestrator.contract.events import parse_event
from backup_orchestrator.contract.report import NextTryReport
from backup_orchestrator.domain.records import Outcome
from backup_orchestrator.run.next_try import schedule_next_try
from backup_orchestrator.run.services import Followers
from tests.support.planning import NOW
from tests.support.running import RUN, TARGET, outcome, run_report, scheduled, settings

BUSY = "the server is UNDER_MAINTENANCE, so it is tried again later in the slot"


@pytest.fixture
def scheduler() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("scheduler", region_name="us-east-1")


def a_run_with_one_busy_server() -> Any:
    return run_report(
        outcome("chef-a", Outcome.STARTED, "backup started", "chef-a-1"),
        outcome("chef-b", Outcome.RETRYING, BUSY),
        outcome("chef-c", Outcome.FAILED, "not backed up: the limit was full"),
    )


def test_a_run_without_busy_servers_schedules_nothing(scheduler: Any) -> None:
    report = run_report(outcome("chef-a", Outcome.STARTED, "backup started", "chef-a-1"))

    schedule_next_try(report, scheduled(), settings(), Followers(scheduler, TARGET), NOW)

    assert report.next_try is None
    assert scheduler.list_schedules()["Schedules"] == []


def test_the_busy_servers_next_try_is_scheduled_and_each_says_when(scheduler: Any) -> None:
    report = a_run_with_one_busy_server()

    schedule_next_try(
        report, scheduled(), settings(), Followers(scheduler, TARGET), NOW + timedelta(minutes=3)
    )

    name = f"opsworks-cm-backup-retry-{RUN}-1"
    at = NOW + timedelta(minutes=15)
    assert report.next_try == NextTryReport(attempt=1, at=at, servers=["chef-b"], schedule=name)
    made = scheduler.get_schedule(Name=name)
    assert made["ScheduleExpression"] == "at(2026-01-05T12:15:00)"
    assert json.loads(made["Target"]["Input"]) == {
        "source": "retry",
        "scheduledTime": "2026-01-05T12:00:00Z",
        "attempt": 1,
        "servers": ["chef-b"],
    }
    by_name = {r.server_name: r for r in report.results}
    assert (by_name["chef-b"].outcome, by_name["chef-b"].reason) == (
        Outcome.RETRYING,
        f"{BUSY}: at 12:15 UTC (try 1 of 8; the retry window ends 14:00 UTC)",
    )
    assert by_name["chef-c"].reason == "not backed up: the limit was full"


@pytest.mark.parametrize(
    ("attempt", "window", "minutes_late", "at", "said"),
    [
        (2, "120", 3, "12:45", "try 3 of 8; the retry window ends 14:00 UTC"),
        # The last try is at the window's end, not a quarter past it.
        (2, "40", 3, "12:40", "try 3 of 3; the retry window ends 12:40 UTC"),
        # A try already due fires a minute from now.
        (2, "120", 50, "12:51", "try 3 of 8; the retry window ends 14:00 UTC"),
    ],
)
def test_a_later_try_is_a_quarter_hour_on_within_the_window_and_never_in_the_past(
    scheduler: Any, attempt: int, window: str, minutes_late: int, at: str, said: str
) -> None:
    report = run_report(outcome("chef-b", Outcome.RETRYING, BUSY))
    retry = scheduled(attempt, retrying=("chef-b",))
    now = NOW + timedelta(minutes=minutes_late)

    schedule_next_try(
        report, retry, settings(RETRY_WINDOW_MINUTES=window), Followers(scheduler, TARGET), now
    )

    assert report.next_try is not None
    assert (report.next_try.attempt, f"{report.next_try.at:%H:%M}") == (attempt + 1, at)
    assert report.results[0].reason == f"{BUSY}: at {at} UTC ({said})"


def test_a_try_that_cannot_be_scheduled_turns_the_busy_servers_failed_saying_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = boto3.client("scheduler", region_name="us-east-1")
    service = Stubber(client)
    service.add_client_error("create_schedule", "AccessDeniedException", "not allowed")
    report = a_run_with_one_busy_server()

    with service, caplog.at_level(logging.ERROR):
        schedule_next_try(report, scheduled(), settings(), Followers(client, TARGET), NOW)

    assert report.next_try is None
    by_name = {r.server_name: r for r in report.results}
    assert (by_name["chef-b"].outcome, by_name["chef-b"].reason) == (
        Outcome.FAILED,
        f"not backed up: {BUSY}, but that try could not be scheduled (An error occurred "
        "(AccessDeniedException) when calling the CreateSchedule operation: not allowed)",
    )
    assert [r.outcome for r in report.results] == [Outcome.STARTED, Outcome.FAILED, Outcome.FAILED]
    [logged] = caplog.records
    assert (logged.getMessage(), logged.__dict__["servers"]) == (
        "next try not scheduled",
        ["chef-b"],
    )


def test_the_servers_waiting_for_room_are_named_in_the_next_try_which_accepts_them(
    scheduler: Any,
) -> None:
    # chef-b is busy; chef-c waits for the room the run deleted for it, still being freed.
    waiting = outcome("chef-c", Outcome.RETRYING, "the room made for its backup ...")
    waiting.waiting_for_room = True
    report = run_report(outcome("chef-b", Outcome.RETRYING, BUSY), waiting)

    schedule_next_try(report, scheduled(), settings(), Followers(scheduler, TARGET), NOW)

    assert report.next_try is not None
    assert (report.next_try.servers, report.next_try.waiting_for_room) == (
        ["chef-b", "chef-c"],
        ["chef-c"],
    )
    made = scheduler.get_schedule(Name=report.next_try.schedule)
    event = json.loads(made["Target"]["Input"])
    assert event == {
        "source": "retry",
        "scheduledTime": "2026-01-05T12:00:00Z",
        "attempt": 1,
        "servers": ["chef-b", "chef-c"],
        "waitingForRoom": ["chef-c"],
    }
    # The function takes the try's event back as a later try that knows who waits for room.
    request = parse_event(event, request_id="r")
    assert (request.attempt, request.retrying, request.waiting_for_room) == (
        1,
        ("chef-b", "chef-c"),
        ("chef-c",),
    )
    assert report.to_json()["nextTry"]["waitingForRoom"] == ["chef-c"]
    # Per server, the report says so in words, not in a field of its own.
    assert "waitingForRoom" not in report.to_json()["results"][1]
