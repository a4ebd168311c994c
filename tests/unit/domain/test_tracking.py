"""Which tracker executions follow a run's new backups (tracking.py): every backup in exactly
one, none over the Map's batch or the history budget, a backup too big to share polled more
slowly alone, and names a retried run finds again."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from backup_orchestrator.domain.history_budget import (
    BATCH,
    HISTORY_BUDGET,
    backup_history,
    max_deletions,
    polls_until,
    run_history,
)
from backup_orchestrator.domain.tracking import Batch, execution_name, plan_batches

STEP_FUNCTIONS_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
RUN = "scheduled-20260105T120000Z"


def backups(*deletions: int, start: int = 0) -> list[dict[str, Any]]:
    """New backups, one per count of deferred deletions."""
    return [
        {"serverName": f"chef-{n}", "backupId": f"b-{n}", "deferredDeletes": ["x"] * d}
        for n, d in enumerate(deletions, start=start)
    ]


def worst_case(batch: Batch, deadline_seconds: int) -> int:
    polls = polls_until(deadline_seconds, batch.poll_seconds)
    return run_history() + sum(
        backup_history(polls, len(b["deferredDeletes"])) for b in batch.backups
    )


def followed(batches: list[Batch]) -> list[str]:
    return [b["backupId"] for batch in batches for b in batch.backups]


# ---- batches ----------------------------------------------------------------------------------


def test_no_backups_need_no_execution() -> None:
    assert plan_batches([], poll_seconds=60, deadline_seconds=10_800) == []


def test_one_execution_follows_at_most_a_batch_of_backups() -> None:
    # A minute to the deadline: a backup's history is small, so only the Map's limit splits.
    batches = plan_batches(backups(*[0] * 100), poll_seconds=5, deadline_seconds=60)

    assert [len(b.backups) for b in batches] == [BATCH, BATCH, 100 - 2 * BATCH]
    assert {b.poll_seconds for b in batches} == {5}
    assert followed(batches) == [f"b-{n}" for n in range(100)]


def test_the_history_budget_splits_before_the_batch_is_full() -> None:
    # Three hours polled every minute: four backups with a deletion each fit, five would not.
    batches = plan_batches(backups(*[1] * 9), poll_seconds=60, deadline_seconds=10_800)

    assert [len(b.backups) for b in batches] == [4, 4, 1]
    assert worst_case(batches[0], 10_800) <= HISTORY_BUDGET
    assert worst_case(Batch(60, [*batches[0].backups, batches[1].backups[0]]), 10_800) > (
        HISTORY_BUDGET
    )


def test_each_executions_own_events_count_against_the_budget() -> None:
    # Fourteen backups polled 57 times fit the budget by themselves, not with the execution's
    # start, end and alert.
    batches = plan_batches(backups(*[0] * 27), poll_seconds=60, deadline_seconds=3420)

    assert 14 * backup_history(polls_until(3420, 60), 0) <= HISTORY_BUDGET
    assert [len(b.backups) for b in batches] == [13, 13, 1]


def test_a_backup_that_fits_no_execution_at_the_poll_is_followed_alone_and_more_slowly() -> None:
    # More deferred deletions than the configuration planned for: one poll at the deadline is
    # all it can afford; the backups before and after it still share an execution.
    big = backups(max_deletions(), start=1)
    given_backups = [*backups(0), *big, *backups(0, start=2)]

    batches = plan_batches(given_backups, poll_seconds=60, deadline_seconds=10_800)

    assert {b.poll_seconds: followed([b]) for b in batches} == {
        60: ["b-0", "b-2"],
        10_800: ["b-1"],
    }
    assert all(worst_case(b, 10_800) <= HISTORY_BUDGET for b in batches)


DELETIONS = st.one_of(st.integers(0, 60), st.integers(0, max_deletions()))


@settings(deadline=None)
@given(
    st.lists(DELETIONS, max_size=120),
    st.integers(1, 3600),
    st.integers(60, 86_400),
)
def test_every_backup_is_followed_once_within_the_budget_in_as_few_executions_as_fit(
    deletions: list[int], poll_seconds: int, deadline_seconds: int
) -> None:
    given_backups = backups(*deletions)

    batches = plan_batches(
        given_backups, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds
    )

    assert sorted(followed(batches)) == sorted(b["backupId"] for b in given_backups)
    for batch in batches:
        assert 1 <= len(batch.backups) <= BATCH
        assert batch.poll_seconds >= poll_seconds
        assert worst_case(batch, deadline_seconds) <= HISTORY_BUDGET
        if batch.poll_seconds > poll_seconds:  # slowed: only a backup that could not share
            [alone] = batch.backups
            assert worst_case(Batch(poll_seconds, [alone]), deadline_seconds) > HISTORY_BUDGET
    shared = [b for b in batches if b.poll_seconds == poll_seconds]
    in_order = [b["backupId"] for b in given_backups if b["backupId"] in set(followed(shared))]
    assert followed(shared) == in_order
    for current, following in itertools.pairwise(shared):
        grown = Batch(poll_seconds, [*current.backups, following.backups[0]])
        assert len(grown.backups) > BATCH or worst_case(grown, deadline_seconds) > HISTORY_BUDGET


# ---- names ------------------------------------------------------------------------------------


def test_an_execution_is_named_after_its_run_its_number_and_what_it_follows() -> None:
    name = execution_name(RUN, 2, backups(0, 0))

    assert re.fullmatch(rf"{RUN}-2-[0-9a-f]{{8}}", name)


@given(st.text(min_size=1, max_size=200), st.integers(1, 10**9), st.lists(st.text(), max_size=5))
@example("r" * 200, 10**9, ["b-1"])
@example("manual run.1 2026/01/05", 1, ["b-1"])
def test_an_execution_name_is_always_one_step_functions_accepts(
    run_id: str, number: int, ids: list[str]
) -> None:
    name = execution_name(run_id, number, [{"backupId": i} for i in ids])

    assert STEP_FUNCTIONS_NAME.fullmatch(name)


@pytest.mark.parametrize(
    ("run_id", "number", "followed_backups", "same"),
    [
        (RUN, 1, backups(0, 1), True),  # a retried run handing over the same backups
        (RUN, 1, backups(0, 1, 2), False),  # it started one more
        (RUN, 1, backups(0, 1)[::-1], False),  # split otherwise
        (RUN, 2, backups(0, 1), False),
        ("scheduled-20260106T120000Z", 1, backups(0, 1), False),
    ],
)
def test_the_same_run_and_backups_get_the_same_name_and_any_change_a_new_one(
    run_id: str, number: int, followed_backups: list[dict[str, Any]], same: bool
) -> None:
    first = execution_name(RUN, 1, backups(0, 1))

    assert (execution_name(run_id, number, followed_backups) == first) is same
