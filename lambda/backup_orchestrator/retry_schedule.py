"""Busy servers are tried again later in their slot: the run schedules its own next try.

A scheduled run that finds a selected server busy (backing up for somebody else, in maintenance,
being modified, restored or created) creates a one-time EventBridge Scheduler schedule that
invokes the function again with `{"source": "retry", "scheduledTime": <slot>, "attempt": n,
"servers": [...]}`, every RETRY_EVERY from the slot, until the slot's retry window closes; the
schedule deletes itself once it has fired. A retry is a run of the same slot (same run id, so
at most one backup per server per slot still holds), limited to those servers. Its last try is
at the window's end: a server still busy then is missed, and says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_boto3_scheduler import EventBridgeSchedulerClient as SchedulerClient
    from types_boto3_scheduler.type_defs import TargetTypeDef

RETRY_EVERY = timedelta(minutes=15)
# A one-time schedule must fire in the future; a try due already fires this long from now.
SOONEST = timedelta(minutes=1)


@dataclass(frozen=True)
class RetryTarget:
    """Where a retry's schedule sends the event, and as whom."""

    function_arn: str
    role_arn: str
    name_prefix: str
    dead_letter_arn: str | None = None


def tries_in(window: timedelta) -> int:
    """How many later tries a retry window holds (the last at its end)."""
    return math.ceil(window / RETRY_EVERY)


def try_time(slot: datetime, attempt: int, window: timedelta, now: datetime) -> datetime:
    """When try `attempt` (from 1) of the slot fires: every RETRY_EVERY from the slot, the last
    at the window's end, and never before a minute from `now`."""
    due = min(slot + attempt * RETRY_EVERY, slot + window)
    return max(due, now + SOONEST).replace(microsecond=0)


def schedule_name(prefix: str, run_id: str, attempt: int) -> str:
    """Schedule names: at most 64 of [0-9a-zA-Z-_.]; the same for a run's same try, so a
    retried run cannot schedule it twice."""
    return f"{prefix}-{run_id}-{attempt}"[:64]


def schedule_retry(
    client: SchedulerClient,
    target: RetryTarget,
    *,
    run_id: str,
    slot: datetime,
    attempt: int,
    at: datetime,
    servers: Sequence[str],
) -> str:
    """Create the one-time schedule of try `attempt`; returns its name. A schedule of that name
    already there (a retried run) is the same try. Raises ClientError otherwise."""
    name = schedule_name(target.name_prefix, run_id, attempt)
    event = {
        "source": "retry",
        "scheduledTime": slot.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "attempt": attempt,
        "servers": list(servers),
    }
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
        if exc.response.get("Error", {}).get("Code") != "ConflictException":
            raise
    return name
