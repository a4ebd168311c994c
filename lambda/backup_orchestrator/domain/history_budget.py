"""How much history a state machine execution may write, worked out before it starts. (pure)

Step Functions keeps at most 25,000 events in one Standard execution's history; an execution
that reaches it fails at once, before its alert, its metrics and its deferred deletions. The
tracker's history grows with every poll of every backup and the drill's with every poll of its
server, so the run splits backups into executions by the most history each one can add
(`backup_history`, see tracking.py), a drill polls slowly enough to fit (`drill_poll_seconds`),
and the configuration refuses a poll interval and deadline with which one backup alone would not
fit. The event counts are measured on the synthesized definitions in moto's interpreter (the
tests in tests/infra keep them true).
"""

from __future__ import annotations

import math

from backup_orchestrator.domain.drill_servers import cleanup_seconds

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
# History events of the drill's definition, without retries, as measured on the synthesized
# definition in moto (tests/infra/test_drill_history.py keeps them true):
# A whole drill on its longest path (its name found taken by its own server after a lost answer,
# OK, then its cleanup fails), without its polls and retries.
DRILL_EVENTS = 104
DRILL_POLL_EVENTS = 11  # Wait, DescribeServers, count the time, decide
REDELETE_EVENTS = 5  # DeleteServer asked again within the cleanup
DRILL_TASKS = 13  # the tasks outside the polls, each of which may retry
DRILL_SKIPPABLE = 4  # the metrics and the record: skipped when they still fail after their retries


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


def drill_polls(deadline_seconds: int, poll_seconds: int) -> int:
    """The most polls of one drill: the wait for the source, the restore, the cleanup."""
    return 2 * math.ceil(deadline_seconds / poll_seconds) + math.ceil(
        cleanup_seconds(deadline_seconds) / poll_seconds
    )


def drill_history(polls: int) -> int:
    """The most history events one drill execution can write: every task retried to its limit,
    every metric skipped, and DeleteServer asked again at every poll."""
    retries = RETRY_EVENTS * TASK_RETRIES
    return (
        DRILL_EVENTS
        + DRILL_TASKS * retries
        + DRILL_SKIPPABLE * SKIP_EVENTS
        + polls * (DRILL_POLL_EVENTS + REDELETE_EVENTS + 2 * retries)
    )


def drill_poll_seconds(deadline_seconds: int, poll_seconds: int) -> int:
    """How often a drill polls: every `poll_seconds`, or less often when a drill to its
    deadline would not fit one execution's history otherwise."""
    poll = poll_seconds
    while drill_history(drill_polls(deadline_seconds, poll)) > HISTORY_BUDGET:
        poll += 1
    return poll
