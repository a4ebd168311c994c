"""The tracker's execution history against Step Functions' quota of 25,000 events: the figures
the orchestrator plans with, measured on the synthesized definition in moto, and the worst case
for the extremes of the settings the configuration accepts."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest
from annotated_types import Ge, Le
from moto import mock_aws

from backup_orchestrator.aws.stepfunctions import start_trackers
from backup_orchestrator.domain.history_budget import (
    ALERT_EVENTS,
    BACKUP_EVENTS,
    BATCH,
    DELETION_EVENTS,
    DELETIONS_ALLOWANCE,
    EXECUTION_EVENTS,
    HISTORY_BUDGET,
    HISTORY_LIMIT,
    POLL_EVENTS,
    REFUSAL_EVENTS,
    RETRY_EVENTS,
    backup_history,
    max_deletions,
    max_polls,
    polls_until,
    run_history,
)
from backup_orchestrator.domain.tracking import Batch, plan_batches
from infra.config import Config, ConfigError, from_context
from local.cloud import LocalCloud
from local.emulator import Emulator
from local.emulator.errors import ServiceError, ValidationException
from local.emulator.faults import RandomErrors
from local.runtime import wait_for_execution
from tests.conftest import add_own_backup
from tests.e2e.conftest import Setup
from tests.support.fleet import PASS_MACHINE

CLOUD = Setup(machines=("Tracker",))


def history(cloud: LocalCloud, backups: list[dict[str, Any]]) -> tuple[str, list[str]]:
    """Run the tracker over `backups` (polling without waiting) and return its final status
    and the types of its history events."""
    sfn = boto3.client("stepfunctions")
    payload = {"runId": "run", "pollSeconds": 0, "deadlineSeconds": 3600, "backups": backups}
    arn = sfn.start_execution(
        stateMachineArn=cloud.tracker_arn, name=str(uuid.uuid4()), input=json.dumps(payload)
    )["executionArn"]
    status = wait_for_execution(sfn, arn)["status"]
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
    return status, [event["type"] for page in pages for event in page["events"]]


def new_backup(emulator: Emulator, server: str, minutes: int, deletions: int) -> dict[str, Any]:
    """A server with a backup taking `minutes` (polls) and `deletions` older own backups."""
    emulator.backend.add_server(server)
    old = [add_own_backup(emulator, server, 2 + d) for d in range(deletions)]
    emulator.config.backup_seconds = 60 * minutes
    backup = emulator.backend.op_create_backup({"ServerName": server}, "caller")["Backup"]
    return {"serverName": server, "backupId": backup["BackupId"], "deferredDeletes": old}


@pytest.mark.parametrize(
    ("polls", "deletions", "refused"),
    [(1, 0, 0), (2, 0, 0), (1, 2, 0), (1, 3, 1), (2, 3, 3)],
)
def test_history_of_an_ok_backup_is_what_the_tracker_plans_with(
    emulator: Emulator, cloud: LocalCloud, polls: int, deletions: int, refused: int
) -> None:
    backup = new_backup(emulator, "chef-a", polls, deletions)
    refusing = set(backup["deferredDeletes"][:refused])

    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DeleteBackup" and params["BackupId"] in refusing:
            return ValidationException("refused")
        return None

    emulator.faults.append(refuse)

    status, events = history(cloud, [backup])

    assert status == "SUCCEEDED"
    assert events.count("WaitStateEntered") == polls
    assert len(events) == (
        EXECUTION_EVENTS
        + BACKUP_EVENTS
        + polls * POLL_EVENTS
        + deletions * DELETION_EVENTS
        + refused * REFUSAL_EVENTS
        + (ALERT_EVENTS if refused else 0)
    )
    assert len(events) <= run_history() + backup_history(polls, deletions)


def test_history_of_failed_backups_stays_within_the_plan(
    emulator: Emulator, cloud: LocalCloud
) -> None:
    emulator.config.fail_backups = ("puppet-*",)
    backups = [new_backup(emulator, f"puppet-{n}", 2, 1) for n in range(2)]

    status, events = history(cloud, backups)

    polls = events.count("WaitStateEntered")
    assert status == "FAILED"
    # Per backup the failed path is shorter than the OK one the plan counts.
    assert len(events) <= EXECUTION_EVENTS + ALERT_EVENTS + 2 * BACKUP_EVENTS + polls * POLL_EVENTS


def test_each_retry_of_a_task_adds_three_events(emulator: Emulator, cloud: LocalCloud) -> None:
    backup = new_backup(emulator, "chef-a", 2, 0)
    _, plain = history(cloud, [backup])
    # Every DescribeBackups call is throttled once, then answered.
    emulator.faults.insert(
        0, RandomErrors(1.0, seed=1, operations=["DescribeBackups"], max_in_a_row=1)
    )
    again = new_backup(emulator, "chef-b", 2, 0)

    _, retried = history(cloud, [again])

    assert len(retried) == len(plain) + 2 * RETRY_EVENTS


def bounds(field: str) -> tuple[int, int]:
    metadata = Config.model_fields[field].metadata
    low = next(m.ge for m in metadata if isinstance(m, Ge))
    high = next(m.le for m in metadata if isinstance(m, Le))
    return cast(int, low), cast(int, high)


def extremes() -> list[tuple[int, int]]:
    """(pollSeconds, deadlineSeconds) at the corners and edges of what the configuration
    accepts, and the defaults."""
    (poll_low, poll_high), (deadline_low, deadline_high) = (
        bounds("poll_seconds"),
        bounds("deadline_seconds"),
    )
    limit = max_polls(DELETIONS_ALLOWANCE)
    return [
        (poll_low, deadline_low),
        (poll_low, limit * poll_low),  # the longest deadline at the shortest poll
        (math.ceil(deadline_high / limit), deadline_high),  # the shortest poll at the longest
        (poll_high, deadline_low),
        (poll_high, deadline_high),
        (60, 10_800),
    ]


def worst_case(batch: Batch, deadline_seconds: int) -> int:
    polls = polls_until(deadline_seconds, batch.poll_seconds)
    return run_history() + sum(
        backup_history(polls, len(b["deferredDeletes"])) for b in batch.backups
    )


def fleet(count: int, deletions: int) -> list[dict[str, Any]]:
    return [
        {"serverName": f"s{n}", "backupId": f"b{n}", "deferredDeletes": ["x"] * deletions}
        for n in range(count)
    ]


@pytest.mark.parametrize(("poll_seconds", "deadline_seconds"), extremes())
@pytest.mark.parametrize(
    "backups",
    [fleet(200, 0), fleet(200, 1), fleet(200, DELETIONS_ALLOWANCE), fleet(3, max_deletions())],
    ids=["200 backups", "1 deletion each", "49 deletions each", "the most deletions"],
)
def test_worst_case_history_of_every_execution_fits_the_quota(
    poll_seconds: int, deadline_seconds: int, backups: list[dict[str, Any]]
) -> None:
    context = {"pollSeconds": poll_seconds, "deadlineSeconds": deadline_seconds}
    assert from_context(context).deadline_seconds == deadline_seconds  # the config accepts it

    batches = plan_batches(backups, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds)

    assert [b for batch in batches for b in batch.backups] == backups
    for batch in batches:
        assert len(batch.backups) <= BATCH
        assert batch.poll_seconds >= poll_seconds
        assert worst_case(batch, deadline_seconds) <= HISTORY_BUDGET < HISTORY_LIMIT
        # The configured interval holds while a backup's deletions stay within the allowance.
        if all(len(b["deferredDeletes"]) <= DELETIONS_ALLOWANCE for b in batch.backups):
            assert batch.poll_seconds == poll_seconds


def test_at_the_defaults_four_backups_share_an_execution() -> None:
    batches = plan_batches(fleet(10, 1), poll_seconds=60, deadline_seconds=10_800)

    assert [len(b.backups) for b in batches] == [4, 4, 2]
    assert worst_case(batches[0], 10_800) == run_history() + 4 * backup_history(180, 1)


def test_settings_with_which_one_backup_would_overflow_are_refused() -> None:
    limit = max_polls(DELETIONS_ALLOWANCE)

    with pytest.raises(ConfigError) as excinfo:
        from_context({"pollSeconds": 10, "deadlineSeconds": 86_400})

    message = str(excinfo.value)
    assert message.startswith("context key deadlineSeconds=86400: with pollSeconds=10")
    assert f"8640 polls, and one tracker execution holds at most {limit}" in message
    assert f"pollSeconds to at least {math.ceil(86_400 / limit)}" in message
    assert f"deadlineSeconds to at most {limit * 10}" in message


@pytest.fixture
def pass_machine() -> Iterator[str]:
    with mock_aws():
        yield boto3.client("stepfunctions").create_state_machine(
            name="tracker",
            definition=json.dumps(PASS_MACHINE),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]


def test_trackers_start_once_per_batch_with_its_poll_interval(pass_machine: str) -> None:
    sfn = boto3.client("stepfunctions")
    backups = fleet(9, 1)

    arns = start_trackers(
        sfn, pass_machine, "scheduled-1", backups, poll_seconds=60, deadline_seconds=10_800
    )
    again = start_trackers(
        sfn, pass_machine, "scheduled-1", backups, poll_seconds=60, deadline_seconds=10_800
    )

    assert again == arns
    listed = sfn.list_executions(stateMachineArn=pass_machine)["executions"]
    names = sorted(e["name"].rsplit("-", 1)[0] for e in listed)
    assert names == [f"scheduled-1-{n}" for n in (1, 2, 3)]
    inputs = [json.loads(sfn.describe_execution(executionArn=a)["input"]) for a in arns]
    assert [len(i["backups"]) for i in inputs] == [4, 4, 1]
    assert {(i["pollSeconds"], i["deadlineSeconds"]) for i in inputs} == {(60, 10_800)}


def test_a_retry_that_hands_over_more_backups_leaves_none_unfollowed(pass_machine: str) -> None:
    # The first attempt handed over two backups, then died; its retry also started a third
    # (a server the first attempt had run out of time for).
    sfn = boto3.client("stepfunctions")
    first = fleet(2, 1)
    more = fleet(3, 1)

    start_trackers(sfn, pass_machine, "scheduled-1", first, poll_seconds=60, deadline_seconds=600)
    arns = start_trackers(
        sfn, pass_machine, "scheduled-1", more, poll_seconds=60, deadline_seconds=600
    )

    followed = {
        b["backupId"]
        for arn in arns
        for b in json.loads(sfn.describe_execution(executionArn=arn)["input"])["backups"]
    }
    assert followed == {b["backupId"] for b in more}


def test_a_backup_that_cannot_fit_is_polled_more_slowly_in_an_execution_of_its_own(
    pass_machine: str,
) -> None:
    # Settings the configuration refuses (the function's own range is wider): a poll a second
    # for a day would take 86,400 polls.
    sfn = boto3.client("stepfunctions")

    arns = start_trackers(
        sfn, pass_machine, "manual-1", fleet(2, 0), poll_seconds=1, deadline_seconds=86_400
    )

    inputs = [json.loads(sfn.describe_execution(executionArn=a)["input"]) for a in arns]
    assert [len(i["backups"]) for i in inputs] == [1, 1]
    slower = math.ceil(86_400 / max_polls(0))
    assert {i["pollSeconds"] for i in inputs} == {slower}
    assert polls_until(86_400, slower) <= max_polls(0)
