"""Starting the tracker's and the drills' executions once each, and finding the ones still
running (Step Functions in moto, where an execution runs until it is stopped)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from backup_orchestrator.aws.stepfunctions import (
    execution_arn,
    running_executions,
    start_execution,
    start_trackers,
)
from backup_orchestrator.domain.tracking import first_wait
from tests.support.fleet import PASS_MACHINE

ROLE = "arn:aws:iam::123456789012:role/tracker"


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("stepfunctions", region_name="us-east-1")


def machine(sfn: Any, name: str = "drill") -> str:
    arn: str = sfn.create_state_machine(
        name=name, definition=json.dumps(PASS_MACHINE), roleArn=ROLE
    )["stateMachineArn"]
    return arn


def inputs(sfn: Any, state_machine_arn: str) -> dict[str, dict[str, Any]]:
    listed = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
    return {
        e["name"]: json.loads(sfn.describe_execution(executionArn=e["executionArn"])["input"])
        for e in listed
    }


@pytest.mark.parametrize(
    ("state_machine", "name", "arn"),
    [
        (
            "arn:aws:states:us-east-1:123456789012:stateMachine:drill",
            "scheduled-20260105T120000Z-chef-a",
            "arn:aws:states:us-east-1:123456789012:execution:drill:scheduled-20260105T120000Z-chef-a",
        ),
        # Only the resource type changes, even where the machine's own name says stateMachine.
        (
            "arn:aws-cn:states:cn-north-1:123456789012:stateMachine:stateMachine-x",
            "run-1",
            "arn:aws-cn:states:cn-north-1:123456789012:execution:stateMachine-x:run-1",
        ),
    ],
)
def test_an_executions_arn_is_known_before_it_starts(
    state_machine: str, name: str, arn: str
) -> None:
    assert execution_arn(state_machine, name) == arn


def test_a_started_execution_has_the_arn_it_was_known_by(sfn: Any) -> None:
    drill = machine(sfn)

    arn = start_execution(sfn, drill, "scheduled-1-chef-a", {"sourceServer": "chef-a"})

    assert arn == execution_arn(drill, "scheduled-1-chef-a")
    assert inputs(sfn, drill) == {"scheduled-1-chef-a": {"sourceServer": "chef-a"}}


@pytest.mark.parametrize("stopped", [False, True], ids=["running", "stopped"])
def test_an_execution_started_by_an_earlier_attempt_is_not_started_again(
    sfn: Any, stopped: bool
) -> None:
    # Given an execution an earlier attempt of the run started (still running, or over)
    drill = machine(sfn)
    first = start_execution(sfn, drill, "scheduled-1-chef-a", {"attempt": 1})
    if stopped:
        sfn.stop_execution(executionArn=first)

    # When the run's retry starts it again, with what it knows now
    again = start_execution(sfn, drill, "scheduled-1-chef-a", {"attempt": 2})

    # Then it is that execution, as it was started
    assert again == first
    assert inputs(sfn, drill) == {"scheduled-1-chef-a": {"attempt": 1}}


def test_any_other_refusal_reaches_the_caller(sfn: Any) -> None:
    gone = "arn:aws:states:us-east-1:123456789012:stateMachine:gone"

    with pytest.raises(ClientError) as refused:
        start_execution(sfn, gone, "run-1", {})

    assert refused.value.response["Error"]["Code"] == "StateMachineDoesNotExist"


def test_trackers_get_the_run_the_deadline_and_their_backups(sfn: Any) -> None:
    tracker = machine(sfn, "tracker")
    backups = [
        {"serverName": "chef-a", "backupId": "chef-a-1", "deferredDeletes": ["chef-a-0"]},
        {"serverName": "chef-b", "backupId": "chef-b-1", "deferredDeletes": []},
    ]

    arns = start_trackers(
        sfn, tracker, "scheduled-20260105T120000Z", backups, poll_seconds=60, deadline_seconds=600
    )

    [(name, payload)] = inputs(sfn, tracker).items()
    assert arns == [execution_arn(tracker, name)]
    assert name.startswith("scheduled-20260105T120000Z-1-")
    # The state its first poll reads: the first wait spread by the name, its polls at the most
    # (to the deadline, one more, the first wait, one for the deletion).
    assert payload == {
        "runId": "scheduled-20260105T120000Z",
        "pollSeconds": 60,
        "deadlineSeconds": 600,
        "firstWaitSeconds": first_wait(name, 60),
        "maxPolls": 13,
        "polls": 0,
        "backups": backups,
        "results": [],
        "report": "",
    }
    assert 1 <= payload["firstWaitSeconds"] <= 60


def test_a_run_with_no_new_backups_starts_no_tracker(sfn: Any) -> None:
    tracker = machine(sfn, "tracker")

    assert start_trackers(sfn, tracker, "run", [], poll_seconds=60, deadline_seconds=600) == []
    assert inputs(sfn, tracker) == {}


def test_running_executions_are_the_machines_own_still_running_on_every_page(sfn: Any) -> None:
    # Given more running executions than one page lists, one stopped, and another machine's
    drill, other = machine(sfn), machine(sfn, "other")
    running = [start_execution(sfn, drill, f"run-{n:03d}", {}) for n in range(101)]
    stopped = start_execution(sfn, drill, "run-stopped", {})
    sfn.stop_execution(executionArn=stopped)
    start_execution(sfn, other, "run-other", {})

    # When the drills still running are listed
    found = running_executions(sfn, drill)

    # Then every one of them is there, and nothing else
    assert sorted(found) == sorted(running)
