"""Which tracker executions follow a run's new backups, what each is started with, and their
names. (pure)

One execution follows the whole run up to BATCH backups, as long as its state stays within
STATE_BUDGET bytes and its polls within the history budget (history_budget.py); a larger run is
split, in order. A retried run that hands over the same backups gets the same executions, by
name, started with the same input.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from backup_orchestrator.domain.history_budget import (
    BATCH,
    PENDING_BYTES,
    RESULT_BYTES,
    STATE_BUDGET,
    max_polls,
    tracker_polls,
)

# The state's own fields (run id, settings, counters, the closing alert) at their largest.
STATE_OVERHEAD = 2_000


@dataclass(frozen=True)
class Batch:
    """The backups one execution follows, and how often it polls (None: the run's interval)."""

    backups: list[dict[str, Any]]
    poll_seconds: int | None = None

    @property
    def deletions(self) -> int:
        return sum(len(b["deferredDeletes"]) for b in self.backups)


def state_bytes(backup: dict[str, Any]) -> int:
    """The most a backup can weigh in the execution's state: while followed (its input, and once
    OK what it carries until its deletions are tried), or once ended (its result and line)."""
    return max(len(json.dumps(backup)) + PENDING_BYTES, RESULT_BYTES)


def fit(backup: dict[str, Any]) -> dict[str, Any]:
    """The backup with as many of its deferred deletions as fit one execution's state alone:
    those left out are kept (the next run prunes them), never deleted unfollowed."""
    room = STATE_BUDGET - STATE_OVERHEAD - PENDING_BYTES
    size = len(json.dumps({**backup, "deferredDeletes": []}))
    kept = 0
    for number, backup_id in enumerate(backup["deferredDeletes"]):
        # Each one adds itself to the JSON list, after a ", " but the first.
        size += len(json.dumps(backup_id)) + (2 if number else 0)
        if size > room:
            break
        kept += 1
    return {**backup, "deferredDeletes": list(backup["deferredDeletes"][:kept])}


def plan_batches(
    backups: list[dict[str, Any]], *, poll_seconds: int, deadline_seconds: int
) -> list[Batch]:
    """Split the backups, in order, into executions within BATCH, the state budget and the
    history budget; each polls every `poll_seconds` unless that would not fit (`_paced`)."""
    batches: list[Batch] = []
    current: list[dict[str, Any]] = []
    size = STATE_OVERHEAD
    for backup in map(fit, backups):
        cost = state_bytes(backup)
        # Deletions take polls of their own (DELETIONS_PER_POLL each): too many for one
        # execution's history start another, when that can help.
        deletions = Batch([*current, backup]).deletions
        crowded = tracker_polls(deadline_seconds, poll_seconds, deletions) > max_polls()
        crowded &= tracker_polls(deadline_seconds, poll_seconds, 0) < max_polls()
        if current and (len(current) == BATCH or size + cost > STATE_BUDGET or crowded):
            batches.append(Batch(current))
            current, size = [], STATE_OVERHEAD
        current.append(backup)
        size += cost
    if current:
        batches.append(Batch(current))
    return [_paced(b, poll_seconds, deadline_seconds) for b in batches]


def _paced(batch: Batch, poll_seconds: int, deadline_seconds: int) -> Batch:
    """The batch polled every `poll_seconds`, or more slowly when its polls to the deadline
    would not fit one execution's history (settings the configuration refuses)."""
    poll = poll_seconds
    while tracker_polls(deadline_seconds, poll, batch.deletions) > max_polls() and (
        poll < deadline_seconds
    ):
        poll += 1
    return Batch(batch.backups, poll)


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


def first_wait(name: str, poll_seconds: int) -> int:
    """The execution's first wait, between 1 and `poll_seconds`, spread by its name: runs that
    overlap (a retry in the slot, a manual run) do not poll the account in the same second."""
    spread = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    return 1 + spread % poll_seconds


def execution_input(
    run_id: str, name: str, batch: Batch, *, poll_seconds: int, deadline_seconds: int
) -> dict[str, Any]:
    """What a tracker execution is started with (run/follow.py describes the state)."""
    poll = batch.poll_seconds or poll_seconds
    return {
        "runId": run_id,
        "pollSeconds": poll,
        "deadlineSeconds": deadline_seconds,
        "firstWaitSeconds": first_wait(name, poll),
        "maxPolls": tracker_polls(deadline_seconds, poll, batch.deletions),
        "polls": 0,
        "backups": batch.backups,
        "results": [],
        "report": "",
    }
