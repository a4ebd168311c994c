"""One poll of the tracker (its function, handlers/tracker.py): read the account once, decide what
each followed backup's status means (domain/following.py), apply the deferred deletions of the
backups now OK through the adapter (paced, a bounded share per poll), and hand the state machine
the next state; the last poll of a run also hands it the alert, composed here.

The state (the tracker's execution input, then each poll's answer):
    {"runId", "pollSeconds", "deadlineSeconds", "firstWaitSeconds", "maxPolls", "polls",
     "backups": [followed, see Followed], "results": [ended], "report": "lines for a person",
     "finished", "failed", "alert": {"subject", "message"} (when the run needs attention)}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools import Logger

from backup_orchestrator.aws.errors import ERRORS, describe
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.task_errors import BadTaskInput
from backup_orchestrator.domain.following import (
    Followed,
    Result,
    alert,
    elapsed,
    judge,
    needs_attention,
    settle,
    still_running,
)
from backup_orchestrator.domain.history_budget import DELETIONS_PER_POLL

logger = Logger(child=True)
# A deletion is started only with this much of the invocation's time left.
DELETION_MARGIN_SECONDS = 30.0


@dataclass
class Counts:
    """What one poll ended, for the metrics: backups OK (with their ages), backups not OK, and
    retention deletions the service refused."""

    succeeded: list[int] = field(default_factory=list)
    failed: int = 0
    refused: int = 0


# What a poll reads of the state, each a field the orchestrator's execution input gives.
REQUIRED = ("runId", "pollSeconds", "deadlineSeconds", "maxPolls", "backups")


def task_input(event: Any) -> tuple[dict[str, Any], str]:
    """The state and the execution's ARN of a poll's event; BadTaskInput names a missing or
    wrong field."""
    if not isinstance(event, dict) or not isinstance(event.get("state"), dict):
        raise BadTaskInput("invalid tracker task input: state must be the tracker's state")
    state, execution = event["state"], event.get("execution")
    if not isinstance(execution, str) or not execution:
        raise BadTaskInput("invalid tracker task input: execution is missing")
    for name in REQUIRED:
        if name not in state:
            raise BadTaskInput(f"invalid tracker task input: state.{name} is missing")
    if not isinstance(state["backups"], list):
        raise BadTaskInput("invalid tracker task input: state.backups must be a list")
    return state, execution


def poll(
    state: dict[str, Any],
    service: OpsWorksCM,
    execution: str,
    *,
    time_left: Callable[[], float],
) -> tuple[dict[str, Any], Counts]:
    """The next state after one poll, and what it ended. A failed read of the account raises (as
    the adapter does, after its retries): the state machine retries the poll, then gives up with
    an alert of its own."""
    polls = int(state.get("polls", 0)) + 1
    last = polls >= int(state["maxPolls"])
    followed = [Followed.from_json(b) for b in state["backups"]]
    listed = {b.backup_id: b for b in service.backups()}
    poll_seconds = int(state["pollSeconds"])
    seconds = elapsed(int(state.get("firstWaitSeconds", poll_seconds)), poll_seconds, polls)
    counts = Counts()
    ended: list[Result] = []
    for item in followed:
        if item.ok_after is not None:
            continue
        result = judge(item, listed, seconds, int(state["deadlineSeconds"]))
        if result is None and item.ok_after is None and last:
            result = still_running(item, seconds)
        if result is not None:
            ended.append(result)
    counts.refused = _apply_deletions(followed, service, time_left)
    for item in followed:
        if item.ok_after is not None:
            settled = settle(item, last_poll=last)
            if settled is not None:
                ended.append(settled)
    # A poll's ends in the run's order (a person reads the alert in the order the backups ended).
    order = {item.backup_id: number for number, item in enumerate(followed)}
    ended.sort(key=lambda r: order[r.backup_id])
    done = {r.backup_id for r in ended}
    for result in ended:
        if result.outcome == "OK":
            counts.succeeded.append(result.seconds)
        else:
            counts.failed += 1
    return _next_state(state, polls, followed, done, ended, execution), counts


def _apply_deletions(
    followed: list[Followed], service: OpsWorksCM, time_left: Callable[[], float]
) -> int:
    """The deferred deletions of the backups seen OK, in order, each on its own and best effort
    (one already gone is fine; one the service refuses is noted and the others still go), at
    most DELETIONS_PER_POLL and only while the invocation has time; the rest wait for the next
    poll. Returns how many were refused."""
    budget, refused = DELETIONS_PER_POLL, 0
    for item in followed:
        while item.ok_after is not None and item.deferred and budget > 0:
            if time_left() < DELETION_MARGIN_SECONDS:
                return refused
            backup_id = item.deferred.pop(0)
            budget -= 1
            try:
                service.delete_backup(backup_id)
            except ERRORS as exc:
                item.refuse(backup_id, describe(exc))
                refused += 1
                logger.warning(
                    "retention deletion refused",
                    extra={"backup_id": backup_id, "for_backup": item.backup_id},
                )
    return refused


def _next_state(
    state: dict[str, Any],
    polls: int,
    followed: list[Followed],
    done: set[str],
    ended: list[Result],
    execution: str,
) -> dict[str, Any]:
    results = [*state.get("results", []), *(r.to_json() for r in ended)]
    report = str(state.get("report", "")) + "".join(f"\n{r.line}" for r in ended)
    still = [item.to_json() for item in followed if item.backup_id not in done]
    answer = {
        **{k: v for k, v in state.items() if k != "alert"},
        "polls": polls,
        "backups": still,
        "results": results,
        "report": report,
        "finished": not still,
    }
    failed, retention_problem = needs_attention(results)
    answer["failed"] = failed
    if not still and (failed or retention_problem):
        # The lines move into the alert: a state holds each line once.
        answer["alert"] = alert(str(state["runId"]), report, execution)
        answer["report"] = ""
    return answer
