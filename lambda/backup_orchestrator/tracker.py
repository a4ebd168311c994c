"""Hands the new backups to the tracker state machine, in executions whose history always fits.

Step Functions keeps at most 25,000 events in one Standard execution's history; an execution
that reaches it fails at once, before its alert, its metrics and its deferred deletions. The
tracker's history grows with every poll of every backup, so the backups are split into
executions by the most history each one can add (`backup_history`), and the configuration
refuses a poll interval and deadline with which one backup alone would not fit.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient


# The tracker's Map follows this many backups at once (the most an inline Map runs in parallel).
BATCH = 40
# Step Functions' quota, and the share of it planned for: the rest is room for events AWS may
# record that moto's interpreter, where the figures below are measured, does not.
HISTORY_LIMIT = 25_000
HISTORY_BUDGET = 24_000
# Every task of the tracker retries at most this often (infra/tracker.py builds it so).
TASK_RETRIES = 6
# History events of the tracker's definition, without retries, as measured on the synthesized
# definition in moto (tests/infra/test_history.py keeps them true):
EXECUTION_EVENTS = 12  # start, the Map over the backups, the summary, the end
ALERT_EVENTS = 7  # the alert task and the choice after it
BACKUP_EVENTS = 20  # one backup's iteration on its longest path, OK: deletions, outcome, 2 metrics
POLL_EVENTS = 11  # Wait, DescribeBackups, count the time, check the status
DELETION_EVENTS = 7  # one deletion's iteration and its DeleteBackup
REFUSAL_EVENTS = 7  # a refused deletion's note and its metric
RETRY_EVENTS = 3  # a task's failed attempt, the new one scheduled and started
SKIP_EVENTS = 2  # a metric that still fails after its retries is skipped
# The deletions one backup is planned with when its own count is not known yet (the config's
# check): as many as the service's default manual-backup limit leaves besides the new backup.
DELETIONS_ALLOWANCE = 49


def backup_history(polls: int, deletions: int) -> int:
    """The most history events one backup can add: every task retried to its limit, every
    deletion refused, every metric skipped."""
    retries = RETRY_EVENTS * TASK_RETRIES
    return (
        BACKUP_EVENTS
        + 2 * (retries + SKIP_EVENTS)
        + polls * (POLL_EVENTS + retries)
        + deletions * (DELETION_EVENTS + REFUSAL_EVENTS + 2 * retries + SKIP_EVENTS)
    )


def run_history() -> int:
    """The most history events an execution adds besides its backups (the alert retried)."""
    return EXECUTION_EVENTS + ALERT_EVENTS + RETRY_EVENTS * TASK_RETRIES


def polls_until(deadline_seconds: int, poll_seconds: int) -> int:
    """Polls of a backup still running at its deadline (the tracker counts pollSeconds a poll)."""
    return math.ceil(deadline_seconds / poll_seconds)


def max_polls(deletions: int) -> int:
    """The most polls one backup with `deletions` can take in an execution of its own."""
    per_poll = backup_history(1, 0) - backup_history(0, 0)
    return (HISTORY_BUDGET - run_history() - backup_history(0, deletions)) // per_poll


def max_deletions() -> int:
    """The most deferred deletions one backup can carry and still fit an execution with one
    poll; the plan holds up to there, nine times the service's default manual-backup limit."""
    per_deletion = backup_history(0, 1) - backup_history(0, 0)
    return (HISTORY_BUDGET - run_history() - backup_history(1, 0)) // per_deletion


@dataclass(frozen=True)
class Batch:
    """The backups one execution follows, and its poll interval."""

    poll_seconds: int
    backups: list[dict[str, Any]]


def plan_batches(
    backups: list[dict[str, Any]], *, poll_seconds: int, deadline_seconds: int
) -> list[Batch]:
    """Split the backups, in order, into executions that fit the history budget and the Map.

    A backup that does not fit even alone at `poll_seconds` (more deferred deletions than the
    configuration planned for, or settings the configuration would refuse) gets an execution of
    its own polled more slowly, so that it fits.
    """
    polls = polls_until(deadline_seconds, poll_seconds)
    batches: list[Batch] = []
    current: list[dict[str, Any]] = []
    used = run_history()
    for backup in backups:
        deletions = len(backup["deferredDeletes"])
        cost = backup_history(polls, deletions)
        if run_history() + cost > HISTORY_BUDGET:
            slower = math.ceil(deadline_seconds / max(1, max_polls(deletions)))
            batches.append(Batch(max(poll_seconds, slower), [backup]))
            continue
        if current and (len(current) == BATCH or used + cost > HISTORY_BUDGET):
            batches.append(Batch(poll_seconds, current))
            current, used = [], run_history()
        current.append(backup)
        used += cost
    if current:
        batches.append(Batch(poll_seconds, current))
    return batches


def execution_name(run_id: str, number: int, backups: list[dict[str, Any]]) -> str:
    """The name of a run's `number`-th execution: the run, the number, and a digest of the
    backups it follows (Step Functions names: at most 80 of [A-Za-z0-9_-]).

    A retried run that hands over the same backups in the same executions gets the same names,
    so nothing is followed twice; one whose executions hold other backups (it started more, or
    they were split otherwise) gets new names, so no backup is left to an execution that does
    not follow it.
    """
    ids = ",".join(str(b["backupId"]) for b in backups)
    digest = hashlib.sha256(ids.encode()).hexdigest()[:8]
    run = re.sub(r"[^A-Za-z0-9_-]", "-", run_id)[:60]
    return f"{run}-{number}-{digest}"


def start_trackers(
    client: SFNClient,
    state_machine_arn: str,
    run_id: str,
    backups: list[dict[str, Any]],
    *,
    poll_seconds: int,
    deadline_seconds: int,
) -> list[str]:
    """Start the run's tracker executions (see `plan_batches`) and return their ARNs.

    Every backup is polled from the start. Executions are named after the run and what they
    follow (`execution_name`), so a retried run cannot start them twice: when a name is taken,
    the existing execution's ARN is returned.
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
            {
                "runId": run_id,
                "pollSeconds": batch.poll_seconds,
                "deadlineSeconds": deadline_seconds,
                "backups": batch.backups,
            },
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
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        return execution_arn(state_machine_arn, name)
    return answer["executionArn"]
