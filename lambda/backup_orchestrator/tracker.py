"""Hands the new backups to the tracker state machine."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient


# The tracker's Map follows this many backups at once (the most an inline Map runs in parallel).
BATCH = 40


def execution_name(run_id: str) -> str:
    """Step Functions execution names: at most 80 of [A-Za-z0-9_-]."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", run_id)[:80]


def start_trackers(
    client: SFNClient,
    state_machine_arn: str,
    run_id: str,
    backups: list[dict[str, Any]],
    *,
    poll_seconds: int,
    deadline_seconds: int,
) -> list[str]:
    """Start the run's tracker executions and return their ARNs.

    An inline Map follows at most BATCH backups at once, so a larger run gets one execution per
    BATCH backups and every backup is polled from the start. Executions are named after the run
    (`<run>` or `<run>-<n>`), so a retried run cannot start them twice: when a name is taken,
    the existing execution's ARN is returned.
    """
    batches = [backups[i : i + BATCH] for i in range(0, len(backups), BATCH)]
    base = execution_name(run_id)
    names = (
        [base] if len(batches) == 1 else [f"{base[:76]}-{n}" for n in range(1, len(batches) + 1)]
    )
    return [
        _start(
            client,
            state_machine_arn,
            name,
            {
                "runId": run_id,
                "pollSeconds": poll_seconds,
                "deadlineSeconds": deadline_seconds,
                "backups": batch,
            },
        )
        for name, batch in zip(names, batches, strict=True)
    ]


def _start(client: SFNClient, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
    try:
        answer = client.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        prefix = state_machine_arn.replace(":stateMachine:", ":execution:", 1)
        return f"{prefix}:{name}"
    return answer["executionArn"]
