"""Hands the new backups to the tracker state machine."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient


def execution_name(run_id: str) -> str:
    """Step Functions execution names: at most 80 of [A-Za-z0-9_-]."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", run_id)[:80]


def start_tracker(
    client: SFNClient,
    state_machine_arn: str,
    run_id: str,
    backups: list[dict[str, Any]],
    *,
    poll_seconds: int,
    deadline_seconds: int,
) -> str:
    """Start the run's tracker execution and return its ARN.

    The execution is named after the run, so a retried run cannot start a second one: when the
    name is taken, the existing execution's ARN is returned.
    """
    name = execution_name(run_id)
    payload = {
        "runId": run_id,
        "pollSeconds": poll_seconds,
        "deadlineSeconds": deadline_seconds,
        "backups": backups,
    }
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
