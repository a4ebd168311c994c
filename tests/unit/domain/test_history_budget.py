"""How much history one state machine execution may write (history_budget.py): the tracker's
worst case per backup and per execution, the most polls and deletions one backup can carry, and
how slowly a drill polls to fit. (The figures themselves are measured on the synthesized
definitions by the end-to-end tests.)"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backup_orchestrator.domain import history_budget
from backup_orchestrator.domain.history_budget import (
    ALERT_EVENTS,
    BACKUP_EVENTS,
    DELETION_EVENTS,
    DELETIONS_ALLOWANCE,
    EXECUTION_EVENTS,
    HISTORY_BUDGET,
    HISTORY_LIMIT,
    POLL_EVENTS,
    REFUSAL_EVENTS,
    RETRY_EVENTS,
    SKIP_EVENTS,
    TASK_RETRIES,
    backup_history,
    drill_history,
    drill_poll_seconds,
    drill_polls,
    max_deletions,
    max_polls,
    polls_until,
    run_history,
)

# One task retried to its limit.
RETRIES = RETRY_EVENTS * TASK_RETRIES
# The service's default manual-backup limit.
DEFAULT_LIMIT = 50


def fits(polls: int, deletions: int) -> bool:
    """Whether one backup with `polls` and `deletions` fits an execution of its own."""
    return run_history() + backup_history(polls, deletions) <= HISTORY_BUDGET


# ---- the tracker ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "poll", "polls"),
    [(60, 60, 1), (59, 60, 1), (61, 60, 2), (10_800, 60, 180), (86_400, 1, 86_400)],
)
def test_a_backup_running_at_its_deadline_was_polled_once_per_interval_begun(
    deadline: int, poll: int, polls: int
) -> None:
    assert polls_until(deadline, poll) == polls


def test_an_execution_besides_its_backups_writes_its_frame_and_the_alert_retried() -> None:
    assert run_history() == EXECUTION_EVENTS + ALERT_EVENTS + RETRIES


@given(st.integers(0, 2000), st.integers(0, 500))
def test_a_backups_worst_case_counts_every_retry_refused_deletion_and_skipped_metric(
    polls: int, deletions: int
) -> None:
    # Its own path with its two metrics, each poll, and each deletion refused and noted.
    alone = BACKUP_EVENTS + 2 * (RETRIES + SKIP_EVENTS)
    per_poll = POLL_EVENTS + RETRIES
    per_deletion = DELETION_EVENTS + REFUSAL_EVENTS + 2 * RETRIES + SKIP_EVENTS

    assert backup_history(polls, deletions) == alone + polls * per_poll + deletions * per_deletion


@given(st.integers(0, max_deletions()))
def test_the_most_polls_of_a_backup_are_the_most_that_fit_an_execution_of_its_own(
    deletions: int,
) -> None:
    most = max_polls(deletions)

    assert most >= 1
    assert fits(most, deletions)
    assert not fits(most + 1, deletions)


def test_the_most_deletions_fit_with_one_poll_and_hold_nine_times_the_default_limit() -> None:
    most = max_deletions()

    assert fits(1, most)
    assert not fits(1, most + 1)
    assert most >= 9 * DEFAULT_LIMIT
    assert DELETIONS_ALLOWANCE == DEFAULT_LIMIT - 1


def test_the_budget_leaves_room_under_the_quota_and_fits_the_defaults() -> None:
    # Room for events AWS may record that the measurements did not see.
    assert HISTORY_BUDGET < HISTORY_LIMIT == 25_000
    # A 60 s poll for three hours, with every deletion the default limit allows.
    assert fits(polls_until(10_800, 60), DELETIONS_ALLOWANCE)


# ---- the drill --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "poll", "polls"),
    [
        # The wait for the source and the restore, 120 polls each, and the cleanup hour.
        (7200, 60, 120 + 120 + 60),
        # The cleanup waits at most the deadline when that is under an hour.
        (1800, 60, 30 + 30 + 30),
        (61, 60, 2 + 2 + 2),
    ],
)
def test_a_drill_polls_through_both_waits_and_its_cleanup(
    deadline: int, poll: int, polls: int
) -> None:
    assert drill_polls(deadline, poll) == polls


def test_the_poll_slows_only_when_a_drill_would_not_fit_its_history() -> None:
    assert history_budget.drill_poll_seconds(7200, 60) == 60
    assert history_budget.drill_poll_seconds(60, 1) == 1  # a short deadline waits less to clean up
    slower = history_budget.drill_poll_seconds(21_600, 10)
    assert slower > 10
    limit = HISTORY_BUDGET
    assert history_budget.drill_history(history_budget.drill_polls(21_600, slower)) <= limit
    assert history_budget.drill_history(history_budget.drill_polls(21_600, slower - 1)) > limit


def test_the_worst_case_history_counts_every_retry_and_every_skipped_metric() -> None:
    no_polls = history_budget.drill_history(0)
    one_poll = history_budget.drill_history(1)

    assert no_polls == (
        history_budget.DRILL_EVENTS
        + history_budget.DRILL_TASKS * RETRY_EVENTS * TASK_RETRIES
        + history_budget.DRILL_SKIPPABLE * SKIP_EVENTS
    )
    assert one_poll - no_polls == (
        history_budget.DRILL_POLL_EVENTS
        + history_budget.REDELETE_EVENTS
        + 2 * RETRY_EVENTS * TASK_RETRIES
    )


@settings(deadline=None)
@given(st.integers(60, 86_400), st.integers(1, 3600))
@example(86_400, 1)  # the longest deadline and the shortest poll the configuration accepts
@example(86_400, 60)
def test_a_drill_polls_at_the_asked_interval_or_the_shortest_slower_one_that_fits(
    deadline_seconds: int, asked: int
) -> None:
    poll = drill_poll_seconds(deadline_seconds, asked)

    assert poll >= asked
    assert drill_history(drill_polls(deadline_seconds, poll)) <= HISTORY_BUDGET
    if poll > asked:
        assert drill_history(drill_polls(deadline_seconds, poll - 1)) > HISTORY_BUDGET
