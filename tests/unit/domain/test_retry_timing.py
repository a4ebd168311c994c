"""Trying a slot's busy servers again: when, under which name, and what the schedule sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backup_orchestrator.aws.scheduler import RetryTarget, schedule_retry
from backup_orchestrator.contract.events import parse_event
from backup_orchestrator.domain.retry_timing import RETRY_EVERY, schedule_name, tries_in, try_time

SLOT = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
WINDOW = timedelta(hours=2)
TARGET = RetryTarget(
    function_arn="arn:aws:lambda:us-east-1:123456789012:function:orchestrator",
    role_arn="arn:aws:iam::123456789012:role/scheduler",
    name_prefix="OpsWorksCMBackup-retry",
    dead_letter_arn="arn:aws:sqs:us-east-1:123456789012:dead-letters",
)


def test_tries_come_every_fifteen_minutes_and_the_last_at_the_windows_end() -> None:
    window = timedelta(minutes=100)

    times = [try_time(SLOT, n, window, SLOT) for n in range(1, tries_in(window) + 1)]

    assert timedelta(minutes=15) == RETRY_EVERY
    assert [f"{t:%H:%M}" for t in times] == [
        "02:15", "02:30", "02:45", "03:00", "03:15", "03:30", "03:40",
    ]  # fmt: skip
    assert (tries_in(timedelta(0)), tries_in(WINDOW)) == (0, 8)


def test_a_try_already_due_fires_a_minute_from_now() -> None:
    late = SLOT + timedelta(minutes=40, seconds=30, microseconds=5)

    assert try_time(SLOT, 1, WINDOW, late) == late.replace(microsecond=0) + timedelta(minutes=1)


def test_schedule_names_fit_the_service_and_name_the_run_and_try() -> None:
    assert schedule_name("OpsWorksCMBackup-retry", "scheduled-20260105T020000Z", 3) == (
        "OpsWorksCMBackup-retry-scheduled-20260105T020000Z-3"
    )
    assert len(schedule_name("x" * 30, "manual-" + "a" * 32, 48)) == 64


@pytest.fixture
def scheduler() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("scheduler", region_name="us-east-1")


def test_the_schedule_sends_the_slot_the_try_and_the_servers_once(scheduler: Any) -> None:
    at = try_time(SLOT, 1, WINDOW, SLOT)

    name = schedule_retry(
        scheduler,
        TARGET,
        run_id="scheduled-20260105T020000Z",
        slot=SLOT,
        attempt=1,
        at=at,
        servers=["chef-busy"],
    )
    again = schedule_retry(
        scheduler,
        TARGET,
        run_id="scheduled-20260105T020000Z",
        slot=SLOT,
        attempt=1,
        at=at,
        servers=["chef-busy"],
    )

    assert again == name
    made = scheduler.get_schedule(Name=name)
    assert made["ScheduleExpression"] == "at(2026-01-05T02:15:00)"
    assert (made["ScheduleExpressionTimezone"], made["ActionAfterCompletion"]) == ("UTC", "DELETE")
    assert made["Target"]["Arn"] == TARGET.function_arn
    assert made["Target"]["RoleArn"] == TARGET.role_arn
    assert made["Target"]["DeadLetterConfig"] == {"Arn": TARGET.dead_letter_arn}
    event = json.loads(made["Target"]["Input"])
    assert event == {
        "source": "retry",
        "scheduledTime": "2026-01-05T02:00:00Z",
        "attempt": 1,
        "servers": ["chef-busy"],
    }
    # What the schedule sends is an event the function accepts: the slot's run, try 1.
    request = parse_event(event, request_id="r")
    assert (request.run_id, request.attempt, request.retrying) == (
        "scheduled-20260105T020000Z",
        1,
        ("chef-busy",),
    )
    assert request.idempotency_key == "scheduled-20260105T020000Z-retry-1"
    assert len(scheduler.list_schedules()["Schedules"]) == 1
