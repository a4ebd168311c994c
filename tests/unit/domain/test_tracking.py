"""Which tracker executions follow a run's new backups (tracking.py): every backup in exactly
one, in order; the whole run in one execution up to a batch at the defaults; a larger run split
by count, by the state's bytes or by the polls its deletions need; a backup too big for a state
of its own cut to the deletions that fit; an execution that would not fit at the run's interval
polled just slowly enough; what each execution is started with; and names a retried run finds
again."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from backup_orchestrator.domain.history_budget import (
    BATCH,
    DELETIONS_ALLOWANCE,
    RESULT_BYTES,
    STATE_BUDGET,
    STATE_LIMIT,
    max_polls,
    tracker_polls,
)
from backup_orchestrator.domain.tracking import (
    STATE_OVERHEAD,
    Batch,
    execution_input,
    execution_name,
    first_wait,
    fit,
    plan_batches,
    state_bytes,
)

STEP_FUNCTIONS_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
RUN = "scheduled-20260105T120000Z"
DEFAULTS = {"poll_seconds": 60, "deadline_seconds": 10_800}


def backups(*deletions: int, start: int = 0) -> list[dict[str, Any]]:
    """New backups as a run hands them over, one per count of deferred deletions: ids as the
    service names them (the server, then the time to the millisecond)."""
    return [
        {
            "serverName": f"chef-{n:03}",
            "backupId": f"chef-{n:03}-20260105020000123",
            "deferredDeletes": [f"chef-{n:03}-{20250101020000000 + d:017}" for d in range(count)],
        }
        for n, count in enumerate(deletions, start=start)
    ]


def followed(batches: list[Batch]) -> list[str]:
    return [b["backupId"] for batch in batches for b in batch.backups]


def size(batch: Batch) -> int:
    """The bytes an execution's state is planned with at its largest."""
    return STATE_OVERHEAD + sum(state_bytes(b) for b in batch.backups)


def polls(batch: Batch, poll_seconds: int, deadline_seconds: int) -> int:
    return tracker_polls(deadline_seconds, poll_seconds, batch.deletions)


def full(batch: Batch, poll_seconds: int, deadline_seconds: int) -> bool:
    """Whether `batch` is over a limit: the count, the state budget or the most polls."""
    return (
        len(batch.backups) > BATCH
        or size(batch) > STATE_BUDGET
        or polls(batch, poll_seconds, deadline_seconds) > max_polls()
    )


def accepted(poll_seconds: int, deadline_seconds: int) -> bool:
    """The configuration's check (infra/config): the deadline's polls with the deletions it
    plans for fit one execution."""
    return tracker_polls(deadline_seconds, poll_seconds, DELETIONS_ALLOWANCE) <= max_polls()


# ---- one execution, or more ------------------------------------------------------------------


def test_no_backups_need_no_execution() -> None:
    assert plan_batches([], **DEFAULTS) == []


@pytest.mark.parametrize("count", [1, 50, BATCH])
def test_at_the_defaults_one_execution_follows_a_whole_run_of_up_to_a_batch(count: int) -> None:
    # Each server replacing its oldest backup: one deferred deletion each.
    given_backups = backups(*[1] * count)

    [batch] = plan_batches(given_backups, **DEFAULTS)

    assert batch.backups == given_backups


def test_at_the_defaults_a_run_of_one_more_than_a_batch_takes_two_executions() -> None:
    given_backups = backups(*[1] * (BATCH + 1))

    batches = plan_batches(given_backups, **DEFAULTS)

    assert [len(b.backups) for b in batches] == [BATCH, 1]
    assert followed(batches) == [b["backupId"] for b in given_backups]


def test_the_state_budget_splits_a_run_whose_backups_carry_many_deletions() -> None:
    # A hundred deferred deletions each: the state fills up long before the batch, and the
    # polls for the deletions still fit.
    given_backups = backups(*[100] * 100)

    batches = plan_batches(given_backups, **DEFAULTS)

    assert len(batches) > 1
    assert followed(batches) == [b["backupId"] for b in given_backups]
    for current, following in itertools.pairwise(batches):
        assert size(current) <= STATE_BUDGET
        grown = Batch([*current.backups, following.backups[0]])
        assert size(grown) > STATE_BUDGET
        assert len(grown.backups) <= BATCH
        assert polls(grown, **DEFAULTS) <= max_polls()


def test_the_history_budget_splits_a_run_whose_deletions_need_more_polls() -> None:
    # The longest deadline the configuration accepts at 10 s polls leaves room for the
    # deletions it plans for, and no more: 30 deletions a backup, 33 backups an execution.
    spare = tracker_polls(0, 10, DELETIONS_ALLOWANCE)
    deadline = 10 * (max_polls() - spare)
    assert accepted(10, deadline)
    assert not accepted(10, deadline + 1)

    batches = plan_batches(backups(*[30] * 100), poll_seconds=10, deadline_seconds=deadline)

    per_execution = DELETIONS_ALLOWANCE // 30
    assert [len(b.backups) for b in batches] == [per_execution] * 3 + [100 - 3 * per_execution]
    for current, following in itertools.pairwise(batches):
        assert polls(current, 10, deadline) <= max_polls()
        grown = Batch([*current.backups, following.backups[0]])
        assert polls(grown, 10, deadline) > max_polls()
        assert size(grown) <= STATE_BUDGET


DELETIONS = st.one_of(st.integers(0, 3), st.integers(0, 120), st.integers(0, DELETIONS_ALLOWANCE))


@settings(deadline=None, max_examples=60)
@given(st.lists(DELETIONS, max_size=BATCH + 40), st.integers(1, 3600), st.integers(60, 86_400))
@example([0] * (BATCH + 1), 60, 10_800)
@example([DELETIONS_ALLOWANCE] * 3, 10, 8750)
def test_every_backup_is_followed_once_in_order_within_every_budget_in_as_few_as_fit(
    deletions: list[int], poll_seconds: int, deadline_seconds: int
) -> None:
    assume(accepted(poll_seconds, deadline_seconds))
    given_backups = backups(*deletions)

    batches = plan_batches(
        given_backups, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds
    )

    # Each within the allowance fits a state of its own whole: nothing is cut.
    assert [b for batch in batches for b in batch.backups] == given_backups
    for batch in batches:
        assert 1 <= len(batch.backups) <= BATCH
        assert size(batch) <= STATE_BUDGET
        assert polls(batch, poll_seconds, deadline_seconds) <= max_polls()
        assert batch.poll_seconds == poll_seconds  # the settings fit: none is slowed
    for current, following in itertools.pairwise(batches):
        grown = Batch([*current.backups, following.backups[0]])
        assert full(grown, poll_seconds, deadline_seconds)


# ---- polled more slowly, when the run's interval would not fit ---------------------------


def shortest_fitting_poll(poll_seconds: int, deadline_seconds: int, deletions: int) -> int:
    poll = poll_seconds
    while tracker_polls(deadline_seconds, poll, deletions) > max_polls():
        poll += 1
    return poll


def test_refused_settings_are_polled_just_slowly_enough_in_one_execution() -> None:
    # A poll a second for a day (the function's own range is wider than the configuration's):
    # the deadline alone takes more polls than fit, so splitting the run would not help.
    assert tracker_polls(86_400, 1, 0) > max_polls()

    [batch] = plan_batches(backups(0, 1, 0), poll_seconds=1, deadline_seconds=86_400)

    assert batch.backups == backups(0, 1, 0)
    slower = shortest_fitting_poll(1, 86_400, batch.deletions)
    assert batch.poll_seconds == slower > 1
    assert tracker_polls(86_400, slower - 1, batch.deletions) > max_polls()


def test_a_backup_with_more_deletions_than_the_allowance_is_slowed_alone() -> None:
    # At the longest deadline the configuration accepts at 10 s polls, a backup carrying twice
    # the deletions it plans for: its own execution, polled just slowly enough; the backups
    # around it keep the run's interval.
    deadline = 10 * (max_polls() - tracker_polls(0, 10, DELETIONS_ALLOWANCE))
    given_backups = backups(1, 2 * DELETIONS_ALLOWANCE, 1)

    batches = plan_batches(given_backups, poll_seconds=10, deadline_seconds=deadline)

    assert [(followed([b]), b.poll_seconds) for b in batches] == [
        ([given_backups[0]["backupId"]], 10),
        ([given_backups[1]["backupId"]], shortest_fitting_poll(10, deadline, 2000)),
        ([given_backups[2]["backupId"]], 10),
    ]
    assert (batches[1].poll_seconds or 0) > 10


@settings(deadline=None, max_examples=60)
@given(
    st.lists(st.one_of(DELETIONS, st.integers(0, 5 * DELETIONS_ALLOWANCE)), max_size=60),
    st.integers(1, 3600),
    st.integers(60, 86_400),
)
@example([0, 0], 1, 86_400)
@example([5 * DELETIONS_ALLOWANCE] * 2, 10, 8750)
def test_whatever_the_settings_and_deletions_every_execution_fits_its_history(
    deletions: list[int], poll_seconds: int, deadline_seconds: int
) -> None:
    given_backups = backups(*deletions)

    batches = plan_batches(
        given_backups, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds
    )

    assert [b for batch in batches for b in batch.backups] == given_backups
    for number, batch in enumerate(batches, start=1):
        assert batch.poll_seconds is not None
        started = execution_input(
            RUN,
            execution_name(RUN, number, batch.backups),
            batch,
            poll_seconds=poll_seconds,
            deadline_seconds=deadline_seconds,
        )
        assert started["pollSeconds"] == batch.poll_seconds >= poll_seconds
        assert started["maxPolls"] <= max_polls()
        # Slowed only as much as it takes.
        if batch.poll_seconds > poll_seconds:
            slower = batch.poll_seconds - 1
            assert tracker_polls(deadline_seconds, slower, batch.deletions) > max_polls()


# ---- a backup too big for a state of its own ------------------------------------------------


def test_a_backup_whose_deletions_alone_exceed_the_state_keeps_the_first_that_fit() -> None:
    [big] = backups(12000, start=1)
    assert state_bytes(big) + STATE_OVERHEAD > STATE_BUDGET

    kept = fit(big)

    count = len(kept["deferredDeletes"])
    assert 0 < count < 12000
    assert kept == {**big, "deferredDeletes": big["deferredDeletes"][:count]}
    assert state_bytes(kept) + STATE_OVERHEAD <= STATE_BUDGET
    one_more = {**big, "deferredDeletes": big["deferredDeletes"][: count + 1]}
    assert state_bytes(one_more) + STATE_OVERHEAD > STATE_BUDGET


def test_a_cut_backup_is_followed_in_an_execution_of_its_own_and_the_others_around_it() -> None:
    [big] = backups(12000, start=1)
    given_backups = [*backups(1), big, *backups(1, start=2)]

    batches = plan_batches(given_backups, **DEFAULTS)

    assert [followed([b]) for b in batches] == [
        [given_backups[0]["backupId"]],
        [big["backupId"]],
        [given_backups[2]["backupId"]],
    ]
    assert batches[1].backups == [fit(big)]
    assert all(size(b) <= STATE_BUDGET for b in batches)


@given(st.lists(st.integers(0, DELETIONS_ALLOWANCE), min_size=1, max_size=5))
def test_a_backup_that_fits_is_left_whole(deletions: list[int]) -> None:
    for backup in backups(*deletions):
        assert fit(backup) == backup


# ---- what an execution is started with ------------------------------------------------------


@settings(deadline=None)
@given(
    st.lists(st.integers(0, 300), min_size=1, max_size=30),
    st.integers(1, 3600),
    st.integers(60, 86_400),
)
@example([0], 60, 10_800)
def test_an_execution_starts_with_its_backups_settings_first_wait_and_most_polls(
    deletions: list[int], poll_seconds: int, deadline_seconds: int
) -> None:
    batch = Batch(backups(*deletions))
    name = execution_name(RUN, 1, batch.backups)

    started = execution_input(
        RUN, name, batch, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds
    )

    assert started == {
        "runId": RUN,
        "pollSeconds": poll_seconds,
        "deadlineSeconds": deadline_seconds,
        "firstWaitSeconds": first_wait(name, poll_seconds),
        "maxPolls": tracker_polls(deadline_seconds, poll_seconds, sum(deletions)),
        "polls": 0,
        "backups": batch.backups,
        "results": [],
        "report": "",
    }
    # A batch polled more slowly starts with its own interval.
    slowed = Batch(batch.backups, poll_seconds + 7)
    again = execution_input(
        RUN, name, slowed, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds
    )
    assert again == {
        **started,
        "pollSeconds": poll_seconds + 7,
        "firstWaitSeconds": first_wait(name, poll_seconds + 7),
        "maxPolls": tracker_polls(deadline_seconds, poll_seconds + 7, sum(deletions)),
    }


@settings(deadline=None, max_examples=30)
@given(st.lists(DELETIONS, min_size=1, max_size=BATCH + 40))
@example([0] * BATCH)
@example([1] * BATCH)
def test_an_executions_input_leaves_room_in_its_state_for_every_result(
    deletions: list[int],
) -> None:
    for number, batch in enumerate(plan_batches(backups(*deletions), **DEFAULTS), start=1):
        name = execution_name(RUN, number, batch.backups)
        started = execution_input(RUN, name, batch, **DEFAULTS)
        fields = len(json.dumps({**started, "backups": []}).encode())

        # The state's own fields fit their share, and each backup its most (while followed, or
        # ended with its result and line), within the budget.
        assert fields <= STATE_OVERHEAD
        assert STATE_OVERHEAD + sum(state_bytes(b) for b in batch.backups) <= STATE_BUDGET
        assert all(state_bytes(b) >= RESULT_BYTES for b in batch.backups)
    assert STATE_BUDGET < STATE_LIMIT == 256 * 1024


@given(st.text(min_size=1, max_size=100), st.integers(1, 3600))
@example("x", 1)
def test_the_first_wait_is_between_a_second_and_one_interval(name: str, poll_seconds: int) -> None:
    assert 1 <= first_wait(name, poll_seconds) <= poll_seconds


def test_the_first_waits_of_different_executions_are_spread_over_the_interval() -> None:
    # A day of runs every quarter hour, and their retried and manual neighbours.
    names = [
        execution_name(f"{kind}-20260105T{h:02}{m:02}00Z", 1, backups(1))
        for kind in ("scheduled", "manual")
        for h in range(24)
        for m in (0, 15, 30, 45)
    ]

    waits = [first_wait(name, 60) for name in names]

    assert len(set(waits)) >= 50  # of the 60 seconds
    assert max(waits.count(w) for w in set(waits)) <= 10


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


@settings(deadline=None, max_examples=30)
@given(st.lists(DELETIONS, min_size=1, max_size=BATCH + 40))
def test_a_retried_run_starts_the_same_executions_by_name_with_the_same_input(
    deletions: list[int],
) -> None:
    def started() -> list[tuple[str, str]]:
        batches = plan_batches(backups(*deletions), **DEFAULTS)
        names = [execution_name(RUN, n, b.backups) for n, b in enumerate(batches, start=1)]
        return [
            (name, json.dumps(execution_input(RUN, name, batch, **DEFAULTS)))
            for name, batch in zip(names, batches, strict=True)
        ]

    first = started()

    assert started() == first
    assert len({name for name, _ in first}) == len(first)
