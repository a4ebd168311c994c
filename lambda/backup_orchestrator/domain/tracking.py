"""Which tracker executions follow a run's new backups, and their names. (pure)

One execution follows at most BATCH backups (the most its Map polls in parallel) and only as
many as fit the history budget (history_budget.py); a retried run that hands over the same
backups gets the same executions, by name.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

from backup_orchestrator.domain.history_budget import (
    BATCH,
    HISTORY_BUDGET,
    backup_history,
    max_polls,
    polls_until,
    run_history,
)


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
