"""EventBridge Scheduler: the one-time schedule that runs a slot's busy servers again.

The schedule invokes the function with `{"source": "retry", "scheduledTime": <slot>, "attempt":
n, "servers": [...]}` (and `"waitingForRoom": [...]`, those of the servers whose room under the
manual-backup limit is still being freed, when there are any) and deletes itself once it has
fired (retry_timing.py says when).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from backup_orchestrator.aws.errors import error_code
from backup_orchestrator.domain.retry_timing import schedule_name

if TYPE_CHECKING:
    from types_boto3_scheduler import EventBridgeSchedulerClient as SchedulerClient
    from types_boto3_scheduler.type_defs import TargetTypeDef


@dataclass(frozen=True)
class RetryTarget:
    """Where a retry's schedule sends the event, and as whom."""

    function_arn: str
    role_arn: str
    name_prefix: str
    dead_letter_arn: str | None = None


def schedule_retry(
    client: SchedulerClient,
    target: RetryTarget,
    *,
    run_id: str,
    slot: datetime,
    attempt: int,
    at: datetime,
    servers: Sequence[str],
    waiting_for_room: Sequence[str] = (),
) -> str:
    """Create the one-time schedule of try `attempt`; returns its name. A schedule of that name
    already there (a retried run) is the same try. Raises ClientError otherwise."""
    name = schedule_name(target.name_prefix, run_id, attempt)
    event: dict[str, object] = {
        "source": "retry",
        "scheduledTime": slot.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "attempt": attempt,
        "servers": list(servers),
    }
    if waiting_for_room:
        event["waitingForRoom"] = list(waiting_for_room)
    destination: TargetTypeDef = {
        "Arn": target.function_arn,
        "RoleArn": target.role_arn,
        "Input": json.dumps(event),
        "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 3600},
    }
    if target.dead_letter_arn:
        destination["DeadLetterConfig"] = {"Arn": target.dead_letter_arn}
    try:
        client.create_schedule(
            Name=name,
            ScheduleExpression=f"at({at:%Y-%m-%dT%H:%M:%S})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Description=f"Tries the busy servers of {run_id} again (try {attempt})",
            Target=destination,
        )
    except ClientError as exc:
        if error_code(exc) != "ConflictException":
            raise
    return name
