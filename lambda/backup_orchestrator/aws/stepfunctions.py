"""Step Functions: starting the tracker's and the drills' executions, once each, and listing
the drills still running."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from backup_orchestrator.aws.errors import error_code
from backup_orchestrator.domain.tracking import execution_input, execution_name, plan_batches

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient


def start_trackers(
    client: SFNClient,
    state_machine_arn: str,
    run_id: str,
    backups: list[dict[str, Any]],
    *,
    poll_seconds: int,
    deadline_seconds: int,
) -> list[str]:
    """Start the run's tracker executions (see `plan_batches`: one up to 200 backups) and
    return their ARNs.

    Executions are named after the run and what they follow (`execution_name`), so a retried
    run cannot start them twice: when a name is taken, the existing execution's ARN is returned.
    """
    batches = plan_batches(backups, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds)
    names = [
        execution_name(run_id, number, batch.backups)
        for number, batch in enumerate(batches, start=1)
    ]
    return [
        start_execution(
            client,
            state_machine_arn,
            name,
            execution_input(
                run_id,
                name,
                batch,
                poll_seconds=poll_seconds,
                deadline_seconds=deadline_seconds,
            ),
        )
        for name, batch in zip(names, batches, strict=True)
    ]


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN the execution `name` of a state machine has, or will have once started."""
    prefix = state_machine_arn.replace(":stateMachine:", ":execution:", 1)
    return f"{prefix}:{name}"


def start_execution(
    client: SFNClient, state_machine_arn: str, name: str, payload: dict[str, Any]
) -> str:
    """Start an execution and return its ARN; one of that name already started (by a retried
    run) is not started again, and its ARN is returned."""
    try:
        answer = client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except ClientError as exc:
        if error_code(exc) != "ExecutionAlreadyExists":
            raise
        return execution_arn(state_machine_arn, name)
    return answer["executionArn"]


def running_executions(client: SFNClient, state_machine_arn: str) -> list[str]:
    """The ARNs of a state machine's executions still running."""
    found: list[str] = []
    for page in client.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, statusFilter="RUNNING"
    ):
        found += [e["executionArn"] for e in page["executions"]]
    return found
