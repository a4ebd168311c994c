"""The one-time schedule of a slot's next try (EventBridge Scheduler in moto): one per try,
made once, delivered for an hour, and deleted once it has fired."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from backup_orchestrator.aws.scheduler import RetryTarget, schedule_retry
from backup_orchestrator.contract.events import parse_event
from tests.support.sizes import largest_fleet, long_name

RUN = "scheduled-20260105T020000Z"
SLOT = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
TARGET = RetryTarget(
    function_arn="arn:aws:lambda:us-east-1:123456789012:function:orchestrator",
    role_arn="arn:aws:iam::123456789012:role/scheduler",
    name_prefix="opsworks-cm-backup-retry",
)


@pytest.fixture
def scheduler() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("scheduler", region_name="us-east-1")


def schedule(
    client: Any,
    attempt: int,
    servers: list[str],
    *,
    at: datetime | None = None,
    target: RetryTarget = TARGET,
) -> str:
    return schedule_retry(
        client,
        target,
        run_id=RUN,
        slot=SLOT,
        attempt=attempt,
        at=at or datetime(2026, 1, 5, 2, 15 * attempt, tzinfo=UTC),
        servers=servers,
    )


def test_a_try_is_delivered_for_an_hour_at_the_exact_time_and_then_deleted(
    scheduler: Any,
) -> None:
    name = schedule(
        scheduler, 2, ["chef-a", "chef-b"], at=datetime(2026, 1, 5, 2, 31, 7, tzinfo=UTC)
    )

    made = scheduler.get_schedule(Name=name)
    assert name == f"opsworks-cm-backup-retry-{RUN}-2"
    assert made["ScheduleExpression"] == "at(2026-01-05T02:31:07)"
    assert made["ScheduleExpressionTimezone"] == "UTC"
    assert made["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert made["ActionAfterCompletion"] == "DELETE"
    assert made["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 5,
        "MaximumEventAgeInSeconds": 3600,
    }
    assert made["Description"] == f"Tries the busy servers of {RUN} again (try 2)"
    assert json.loads(made["Target"]["Input"]) == {
        "source": "retry",
        "scheduledTime": "2026-01-05T02:00:00Z",
        "attempt": 2,
        "servers": ["chef-a", "chef-b"],
    }


def test_without_a_dead_letter_queue_the_schedule_names_none(scheduler: Any) -> None:
    name = schedule(scheduler, 1, ["chef-a"])

    target = scheduler.get_schedule(Name=name)["Target"]
    assert "DeadLetterConfig" not in target
    assert (target["Arn"], target["RoleArn"]) == (TARGET.function_arn, TARGET.role_arn)


def test_each_try_of_a_slot_is_a_schedule_of_its_own(scheduler: Any) -> None:
    first = schedule(scheduler, 1, ["chef-a", "chef-b"])
    second = schedule(scheduler, 2, ["chef-b"])

    assert first != second
    listed = {s["Name"] for s in scheduler.list_schedules()["Schedules"]}
    assert listed == {first, second}
    inputs = [json.loads(scheduler.get_schedule(Name=n)["Target"]["Input"]) for n in listed]
    assert sorted((i["attempt"], i["servers"]) for i in inputs) == [
        (1, ["chef-a", "chef-b"]),
        (2, ["chef-b"]),
    ]


def test_a_try_already_scheduled_by_a_retried_run_is_left_as_it_was(scheduler: Any) -> None:
    # Given try 1 of the slot scheduled by a run that then died before it answered
    name = schedule(scheduler, 1, ["chef-a", "chef-b"])

    # When its retry schedules try 1 again, later and for fewer servers
    again = schedule(scheduler, 1, ["chef-a"], at=datetime(2026, 1, 5, 2, 40, tzinfo=UTC))

    # Then it is the same try: the name is returned and the schedule is not changed
    assert again == name
    [only] = scheduler.list_schedules()["Schedules"]
    made = scheduler.get_schedule(Name=only["Name"])
    assert made["ScheduleExpression"] == "at(2026-01-05T02:15:00)"
    assert json.loads(made["Target"]["Input"])["servers"] == ["chef-a", "chef-b"]


@pytest.mark.parametrize(
    "code", ["ValidationException", "ServiceQuotaExceededException", "AccessDeniedException"]
)
def test_any_other_refusal_reaches_the_caller(code: str) -> None:
    client = boto3.client("scheduler", region_name="us-east-1")

    service = Stubber(client)
    service.add_client_error("create_schedule", service_error_code=code)

    with service, pytest.raises(ClientError) as refused:
        schedule(client, 1, ["chef-a"])

    assert refused.value.response["Error"]["Code"] == code


def test_a_try_of_every_server_of_the_largest_fleet_fits_an_asynchronous_invoke(
    scheduler: Any,
) -> None:
    # Given every server of the largest fleet busy, each named at the service's longest
    servers = [long_name(n) for n in range(largest_fleet())]

    made = scheduler.get_schedule(Name=schedule(scheduler, 1, servers))

    # Then the event names them all, well within what an asynchronous invoke carries (256 KB),
    # and the function takes it back
    event = made["Target"]["Input"]
    print(f"\nretry event of {len(servers)} busy servers: {len(event):,} bytes")
    assert len(event.encode()) < 64_000
    assert parse_event(json.loads(event), request_id="r").retrying == tuple(servers)
