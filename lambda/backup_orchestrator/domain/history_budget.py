"""How much an execution of a state machine may hold, worked out before it starts. (pure)

Step Functions keeps at most 25,000 events in one Standard execution's history, and at most
256 KiB in a state; an execution that reaches either fails at once, before its alert. The
tracker's history grows with its polls only (each poll is a Wait, the poll task and a Choice;
its function reads the account once whatever the number of backups), and its state with the
backups it follows; so one execution follows a run's backups up to BATCH of them and
STATE_BUDGET bytes, and the configuration refuses a poll interval and deadline that would not fit
(`tracker_polls`, `max_polls`). The drill's history grows with every poll of its server, and a
drill polls slowly enough to fit (`drill_poll_seconds`). The event counts are measured on the
synthesized definitions in moto's interpreter (tests/e2e keeps them true).
"""

from __future__ import annotations

import math

from backup_orchestrator.domain.drill_servers import cleanup_seconds

# The most backups one tracker execution follows (one execution and one alert per run up to
# here at the default settings).
BATCH = 200
# Step Functions' quotas, and the share of them planned for: the rest is room for events AWS may
# record that moto's interpreter, where the figures below are measured, does not.
HISTORY_LIMIT = 25_000
HISTORY_BUDGET = 24_000
STATE_LIMIT = 262_144
STATE_BUDGET = 240_000
# The most bytes a backup weighs in the state once it ended: its result and its line for a
# person (the service's words cut to 250 bytes), in the report or, at the end, in the alert.
RESULT_BYTES = 1_000
# What a followed backup seen OK carries besides its input until its deletions are tried: how
# long it took, and the count and first of the deletions refused (its reason cut likewise).
PENDING_BYTES = 400
# Every task of the state machines retries at most this often (infra/ builds them so).
TASK_RETRIES = 6
# History events of the tracker's definition, without retries, as measured on the synthesized
# definition in moto (tests/e2e/test_tracker_history.py keeps them true):
# Besides its polls (a poll given up counted as one), on the longest way out: the start, the
# alert the state machine writes when a poll is given up (two Pass states), the alert task,
# the choice after it, the end.
TRACKER_EVENTS = 12
POLL_EVENTS = 9  # Wait, the poll task, the choice
RETRY_EVENTS = 3  # a task's failed attempt, the new one scheduled and started
SKIP_EVENTS = 2  # a metric that still fails after its retries is skipped
# The deferred deletions one poll applies at most (20 s at the service's 5 requests/second);
# the rest wait for the next poll.
DELETIONS_PER_POLL = 100
# The deletions one execution is planned with when their count is not known yet (the
# configuration's check): twenty times the service's default manual-backup limit.
DELETIONS_ALLOWANCE = 1_000
# History events of the drill's definition, without retries, as measured on the synthesized
# definition in moto (tests/e2e/test_drill_history.py keeps them true):
# A whole drill on its longest path (its name found taken by its own server after a lost answer,
# OK, then its cleanup fails), without its polls and retries.
DRILL_EVENTS = 84
# Of those, the check that the server holding the name is the drill's own: a lost answer to
# CreateServer is settled by the drill's function itself, so only a retried task takes it.
TAKEN_EVENTS = 7
DRILL_POLL_EVENTS = 11  # Wait, DescribeServers, count the time, decide
REDELETE_EVENTS = 5  # DeleteServer asked again within the cleanup
DRILL_TASKS = 11  # the tasks outside the polls, each of which may retry
DRILL_SKIPPABLE = 4  # the metrics and the record: skipped when they still fail after their retries


def polls_until(deadline_seconds: int, poll_seconds: int) -> int:
    """Polls of a backup still running at its deadline, one every `poll_seconds`."""
    return math.ceil(deadline_seconds / poll_seconds)


def tracker_polls(deadline_seconds: int, poll_seconds: int, deletions: int) -> int:
    """The polls one tracker execution takes at most (its `maxPolls`): to the deadline of a
    backup started just before it (the first wait is at most one interval, and one more poll
    sees the deadline passed), then as many as its deferred deletions need."""
    return (
        polls_until(deadline_seconds, poll_seconds) + 2 + math.ceil(deletions / DELETIONS_PER_POLL)
    )


def tracker_history(polls: int) -> int:
    """The most history events a tracker execution of `polls` polls can write: every task
    retried to its limit."""
    retries = RETRY_EVENTS * TASK_RETRIES
    return TRACKER_EVENTS + retries + polls * (POLL_EVENTS + retries)


def max_polls() -> int:
    """The most polls one tracker execution can take within the history budget."""
    per_poll = tracker_history(1) - tracker_history(0)
    return (HISTORY_BUDGET - tracker_history(0)) // per_poll


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
