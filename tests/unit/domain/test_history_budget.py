"""How much history one state machine execution may write (history_budget.py): the tracker's
polls to the deadline and through its deferred deletions, its worst case per poll and per
execution, the most polls that fit, and how slowly a drill polls to fit. (The figures themselves
are measured on the synthesized definitions by the end-to-end tests.)"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backup_orchestrator.domain import history_budget
from backup_orchestrator.domain.history_budget import (
    DELETIONS_ALLOWANCE,
    DELETIONS_PER_POLL,
    HISTORY_BUDGET,
    HISTORY_LIMIT,
    POLL_EVENTS,
    RETRY_EVENTS,
    SKIP_EVENTS,
    TASK_RETRIES,
    TRACKER_EVENTS,
    drill_history,
    drill_poll_seconds,
    drill_polls,
    max_polls,
    polls_until,
    tracker_history,
    tracker_polls,
)

# One task retried to its limit.
RETRIES = RETRY_EVENTS * TASK_RETRIES
# The service's default manual-backup limit.
DEFAULT_LIMIT = 50
# The function's own range of pollSeconds and deadlineSeconds (contract/settings.py).
POLLS = st.integers(1, 3600)
DEADLINES = st.integers(60, 86_400)
DELETIONS = st.integers(0, 20_000)


# ---- the tracker ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "poll", "polls"),
    [(60, 60, 1), (59, 60, 1), (61, 60, 2), (10_800, 60, 180), (86_400, 1, 86_400)],
)
def test_a_backup_running_at_its_deadline_was_polled_once_per_interval_begun(
    deadline: int, poll: int, polls: int
) -> None:
    assert polls_until(deadline, poll) == polls


@pytest.mark.parametrize(
    ("deletions", "polls"),
    [
        (0, 180 + 2),
        (1, 180 + 2 + 1),
        (DELETIONS_PER_POLL, 180 + 2 + 1),
        (DELETIONS_PER_POLL + 1, 180 + 2 + 2),
        (DELETIONS_ALLOWANCE, 180 + 2 + 10),
    ],
)
def test_an_execution_polls_to_the_deadline_twice_more_then_a_poll_per_share_of_deletions(
    deletions: int, polls: int
) -> None:
    # Three hours polled every minute: 180 polls to the deadline, one more for a first wait of
    # up to an interval, one that sees the deadline passed, then the deletions at most
    # DELETIONS_PER_POLL a poll.
    assert DELETIONS_PER_POLL == 100
    assert tracker_polls(10_800, 60, deletions) == polls


@given(DEADLINES, POLLS, DELETIONS)
@example(86_400, 1, 0)
@example(60, 3600, 0)
def test_an_executions_polls_cover_its_deadline_and_all_its_deletions(
    deadline: int, poll: int, deletions: int
) -> None:
    polls = tracker_polls(deadline, poll, deletions)

    # Past the deadline of a backup started just before the execution (its first wait is up
    # to an interval), with a poll for every share of the deletions left after it.
    assert (polls - 2) * poll >= deadline
    assert (polls - polls_until(deadline, poll) - 2) * DELETIONS_PER_POLL >= deletions
    # Never a poll more than that: more deletions or a longer deadline take more polls, a
    # longer interval fewer.
    assert tracker_polls(deadline, poll, deletions + DELETIONS_PER_POLL) == polls + 1
    assert tracker_polls(deadline + poll, poll, deletions) == polls + 1
    assert tracker_polls(deadline, poll + 1, deletions) <= polls


def test_an_execution_without_polls_writes_its_frame_and_the_alert_retried() -> None:
    assert tracker_history(0) == TRACKER_EVENTS + RETRIES


@given(st.integers(0, 100_000))
def test_each_poll_adds_its_events_and_its_task_retried_to_the_limit(polls: int) -> None:
    assert tracker_history(polls + 1) - tracker_history(polls) == POLL_EVENTS + RETRIES
    assert tracker_history(polls) == TRACKER_EVENTS + RETRIES + polls * (POLL_EVENTS + RETRIES)


def test_the_most_polls_are_the_most_whose_worst_case_fits_the_budget() -> None:
    most = max_polls()

    assert tracker_history(most) <= HISTORY_BUDGET
    assert tracker_history(most + 1) > HISTORY_BUDGET
    # The budget leaves room under the quota for events AWS may record that the measurements
    # did not see.
    assert HISTORY_BUDGET < HISTORY_LIMIT == 25_000


def test_the_allowance_covers_every_backup_of_an_account_at_the_default_limit() -> None:
    # A run deletes only manual backups the account holds: at the service's default limit all
    # of them fit the allowance the configuration plans with, many times over.
    assert DELETIONS_ALLOWANCE >= DEFAULT_LIMIT


def test_the_defaults_fit_with_every_deletion_the_allowance_plans_for() -> None:
    # A 60 s poll for three hours, with a thousand deferred deletions.
    assert tracker_polls(10_800, 60, DELETIONS_ALLOWANCE) <= max_polls()
    assert tracker_history(tracker_polls(10_800, 60, DELETIONS_ALLOWANCE)) <= HISTORY_BUDGET


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
