"""The tracker's execution history against Step Functions' quota of 25,000 events: the figures
the orchestrator plans with (history_budget.py), measured on the synthesized definition run in
moto's interpreter; the worst case at the corners of the settings the configuration accepts, and
the settings it refuses; and the executions a run starts (aws/stepfunctions.py)."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import boto3
import pytest
from annotated_types import Ge, Le
from moto import mock_aws

from backup_orchestrator.aws.stepfunctions import start_trackers
from backup_orchestrator.domain.history_budget import (
    BATCH,
    DELETIONS_ALLOWANCE,
    DELETIONS_PER_POLL,
    HISTORY_BUDGET,
    HISTORY_LIMIT,
    POLL_EVENTS,
    RETRY_EVENTS,
    STATE_BUDGET,
    STATE_LIMIT,
    TASK_RETRIES,
    TRACKER_EVENTS,
    max_polls,
    tracker_history,
    tracker_polls,
)
from backup_orchestrator.domain.tracking import (
    STATE_OVERHEAD,
    Batch,
    execution_input,
    execution_name,
    plan_batches,
    state_bytes,
)
from backup_orchestrator.run.task_answers import TASK_POLICY
from infra.config import Config, ConfigError, from_context
from local.cloud import LocalCloud
from local.emulator import Emulator
from local.emulator.errors import AccessDeniedException, ServiceError, ValidationException
from local.emulator.faults import RandomErrors
from local.runtime import wait_for_execution
from tests.conftest import add_own_backup
from tests.e2e.conftest import Setup
from tests.support.fleet import PASS_MACHINE
from tests.support.stack import definition

CLOUD = Setup(machines=("Tracker",))

# What an execution writes besides its polls (POLL_EVENTS each: the wait before it, the poll
# task, the choice after it), as measured, by the way it ends. The longest is TRACKER_EVENTS.
END_EVENTS = {
    # The start; the success state entered and left; the end.
    "all OK": 4,
    # The start; the alert task (entered, scheduled, started, succeeded, left) and the choice
    # after it; the fail state; the end.
    "a backup failed": 10,
    # The start; the alert task and the choice after it; the success state entered and left;
    # the end.
    "a retention problem": 11,
    # The start; the poll given up writes two events fewer than a poll (failed and left, no
    # choice); the alert the state machine writes (two Pass states); the alert task and the
    # choice after it; the fail state; the end.
    "not followed": 12,
}
Fault = Callable[[str, dict[str, Any]], ServiceError | None]


def tracker(
    cloud: LocalCloud, backups: list[dict[str, Any]], *, max_polls_: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run the tracker over `backups` as the orchestrator starts it (polling every second, each
    poll a minute of the backups' lives) and return the ended execution and its history."""
    sfn: Any = boto3.client("stepfunctions")
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    name = execution_name(run_id, 1, backups)
    payload = execution_input(run_id, name, Batch(backups), poll_seconds=1, deadline_seconds=3600)
    if max_polls_ is not None:
        payload["maxPolls"] = max_polls_
    arn = sfn.start_execution(
        stateMachineArn=cloud.tracker_arn, name=name, input=json.dumps(payload)
    )["executionArn"]
    ended = wait_for_execution(sfn, arn, timeout=300)
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
    return ended, [event for page in pages for event in page["events"]]


def entered(events: list[dict[str, Any]], state: str) -> int:
    """How often the execution entered `state`."""
    return sum(
        1
        for e in events
        if e["type"].endswith("StateEntered") and e["stateEnteredEventDetails"]["name"] == state
    )


def failures(events: list[dict[str, Any]]) -> list[str]:
    """The errors of the failed task attempts, in order."""
    return [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]


def new_backup(
    emulator: Emulator, server: str, *, deletions: int = 0, minutes: int = 2
) -> dict[str, Any]:
    """A server with a backup that takes `minutes` (polls) and `deletions` older own backups."""
    emulator.backend.add_server(server)
    old = [add_own_backup(emulator, server, 2 + d / 24) for d in range(deletions)]
    emulator.config.backup_seconds = 60 * minutes
    backup = emulator.backend.op_create_backup({"ServerName": server}, "caller")["Backup"]
    return {"serverName": server, "backupId": backup["BackupId"], "deferredDeletes": old}


# ---- measured ---------------------------------------------------------------------------------


def test_the_longest_way_out_is_what_the_tracker_plans_with() -> None:
    assert max(END_EVENTS.values()) == TRACKER_EVENTS


@pytest.mark.parametrize(
    ("servers", "deletions", "minutes", "polls"),
    [
        (1, 0, 1, 1),
        (1, 0, 2, 2),
        (1, 0, 4, 4),
        (5, 0, 2, 2),  # more backups: the same polls
        (5, 3, 2, 2),  # deletions within a poll's share: applied in the poll that sees OK
        (1, DELETIONS_PER_POLL + 1, 2, 3),  # one more: a poll more
    ],
)
def test_an_executions_history_grows_with_its_polls_only(
    emulator: Emulator, cloud: LocalCloud, servers: int, deletions: int, minutes: int, polls: int
) -> None:
    # Room in the account for every backup and its older ones.
    emulator.config.manual_backup_limit = max(50, servers * (deletions + 1))
    backups = [
        new_backup(emulator, f"chef-{n}", deletions=deletions, minutes=minutes)
        for n in range(servers)
    ]

    ended, events = tracker(cloud, backups)

    assert ended["status"] == "SUCCEEDED", ended
    assert json.loads(ended["output"])["polls"] == entered(events, "Poll") == polls
    assert len(events) == END_EVENTS["all OK"] + polls * POLL_EVENTS
    # Every deferred deletion was applied (the backup is going, or gone).
    left = [emulator.backend.backups.get(d) for b in backups for d in b["deferredDeletes"]]
    assert {b.status for b in left if b is not None} <= {"DELETING"}


def refusing_deletions(operation: str, params: dict[str, Any]) -> ServiceError | None:
    if operation == "DeleteBackup":
        return ValidationException("The backup is locked by a legal hold")
    return None


def denying_reads_after(reads: int) -> Fault:
    """The account answers `reads` reads, then refuses every other one (not retried)."""
    seen: list[str] = []

    def fault(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation != "DescribeBackups":
            return None
        seen.append(operation)
        if len(seen) > reads:
            return AccessDeniedException("User is not authorized to perform DescribeBackups")
        return None

    return fault


@pytest.mark.parametrize(
    ("end", "status", "alert"),
    [
        ("all OK", "SUCCEEDED", None),
        ("a backup failed", "FAILED", "ended FAILED"),
        ("a retention problem", "SUCCEEDED", "could not be deleted"),
        ("not followed", "FAILED", "could not be followed to the end"),
    ],
)
def test_each_way_out_writes_its_measured_events_besides_the_polls(
    emulator: Emulator, cloud: LocalCloud, end: str, status: str, alert: str | None
) -> None:
    if end == "a backup failed":
        emulator.config.fail_backups = ("chef-*",)
    if end == "a retention problem":
        emulator.faults.insert(0, refusing_deletions)
    if end == "not followed":
        emulator.faults.insert(0, denying_reads_after(1))
    backup = new_backup(emulator, "chef-a", deletions=1)

    ended, events = tracker(cloud, [backup])

    assert ended["status"] == status, ended
    polls = entered(events, "Poll")
    assert polls == 2  # the poll given up counts as a poll
    assert len(events) == END_EVENTS[end] + polls * POLL_EVENTS
    messages = [a["message"] for a in cloud.alerts()]
    if alert is None:
        assert messages == []
    else:
        [message] = messages
        assert alert in message


@pytest.mark.parametrize("retried", [1, 2])
def test_each_retried_poll_adds_its_retry_events(
    emulator: Emulator, cloud: LocalCloud, retried: int
) -> None:
    # Every read of the account is throttled past the adapter's retries `retried` times in a
    # row, then answered: each poll fails that often with ServiceUnavailable, and is retried.
    emulator.faults.insert(
        0,
        RandomErrors(
            1.0,
            seed=1,
            operations=["DescribeBackups"],
            max_in_a_row=retried * TASK_POLICY.attempts,
        ),
    )
    backup = new_backup(emulator, "chef-a")

    ended, events = tracker(cloud, [backup])

    assert ended["status"] == "SUCCEEDED", ended
    polls = entered(events, "Poll")
    assert polls == 2
    assert failures(events) == ["ServiceUnavailable"] * (polls * retried)
    assert len(events) == (
        END_EVENTS["all OK"] + polls * POLL_EVENTS + polls * retried * RETRY_EVENTS
    )


def test_an_execution_ends_at_its_last_poll(emulator: Emulator, cloud: LocalCloud) -> None:
    # A backup that never ends, followed with fewer polls than its deadline needs: the last
    # poll the execution was started with ends it, so its history is bounded by maxPolls.
    emulator.config.backup_seconds = 10**6
    backup = new_backup(emulator, "chef-a", minutes=10**4)

    ended, events = tracker(cloud, [backup], max_polls_=3)

    assert ended["status"] == "FAILED", ended
    assert entered(events, "Poll") == 3
    assert len(events) == END_EVENTS["a backup failed"] + 3 * POLL_EVENTS
    [alert] = cloud.alerts()
    assert "still IN_PROGRESS" in alert["message"]


def test_the_figures_hold_for_the_definitions_loop(template_json: dict[str, Any]) -> None:
    # The counts above cover every way through: the only tasks are the poll and the alert, each
    # retried at most TASK_RETRIES times, with no Map or Parallel state adding its own events.
    states = definition(template_json)["States"]

    assert {name for name, s in states.items() if s["Type"] == "Task"} == {"Poll", "Alert"}
    assert {s["Type"] for s in states.values()} <= {
        "Wait",
        "Task",
        "Choice",
        "Pass",
        "Succeed",
        "Fail",
    }
    retries = [r["MaxAttempts"] for s in states.values() for r in s.get("Retry", [])]
    assert retries
    assert max(retries) <= TASK_RETRIES
    assert [c["Next"] for c in states["Poll"]["Catch"]] == ["NotFollowed"]
    assert "Catch" not in states["Alert"]


# ---- the settings the configuration accepts ---------------------------------------------------


def bounds(field: str) -> tuple[int, int]:
    """The lowest and the highest value the configuration accepts for `field`."""
    metadata = Config.model_fields[field].metadata
    low = next(m.ge for m in metadata if isinstance(m, Ge))
    high = next(m.le for m in metadata if isinstance(m, Le))
    return cast(int, low), cast(int, high)


def accepted(poll_seconds: int, deadline_seconds: int) -> bool:
    try:
        from_context({"pollSeconds": poll_seconds, "deadlineSeconds": deadline_seconds})
    except ConfigError:
        return False
    return True


def extremes() -> list[tuple[int, int]]:
    """(pollSeconds, deadlineSeconds) at the corners and edges of what the configuration
    accepts, and the defaults."""
    (poll_low, poll_high), (deadline_low, deadline_high) = (
        bounds("poll_seconds"),
        bounds("deadline_seconds"),
    )
    spare = tracker_polls(0, poll_low, DELETIONS_ALLOWANCE)
    longest = poll_low * (max_polls() - spare)  # the longest deadline at the shortest poll
    shortest = next(p for p in range(poll_low, poll_high) if accepted(p, deadline_high))
    return [
        (poll_low, deadline_low),
        (poll_low, longest),
        (shortest, deadline_high),  # the shortest poll at the longest deadline
        (poll_high, deadline_low),
        (poll_high, deadline_high),
        (60, 10_800),
    ]


def fleet(count: int, deletions: int) -> list[dict[str, Any]]:
    """A run's backups as the service names them, each with `deletions` deferred deletions."""
    return [
        {
            "serverName": f"chef-{n:03}",
            "backupId": f"chef-{n:03}-20260105020000123",
            "deferredDeletes": [
                f"chef-{n:03}-{20250101020000000 + d:017}" for d in range(deletions)
            ],
        }
        for n in range(count)
    ]


@pytest.mark.parametrize(("poll_seconds", "deadline_seconds"), extremes())
@pytest.mark.parametrize(
    "backups",
    [
        fleet(BATCH, 0),
        fleet(BATCH, 1),
        fleet(BATCH, DELETIONS_ALLOWANCE // BATCH),
        fleet(20, DELETIONS_ALLOWANCE // 20),
        fleet(3, DELETIONS_ALLOWANCE),
    ],
    ids=["a batch", "a deletion each", "the allowance", "the allowance in 20", "3 allowances"],
)
def test_worst_case_history_and_state_of_every_execution_fit_the_quotas(
    poll_seconds: int, deadline_seconds: int, backups: list[dict[str, Any]]
) -> None:
    assert accepted(poll_seconds, deadline_seconds)

    batches = plan_batches(backups, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds)

    assert [b for batch in batches for b in batch.backups] == backups
    for number, batch in enumerate(batches, start=1):
        assert len(batch.backups) <= BATCH
        name = execution_name("run", number, batch.backups)
        started = execution_input(
            "run", name, batch, poll_seconds=poll_seconds, deadline_seconds=deadline_seconds
        )
        assert tracker_history(started["maxPolls"]) <= HISTORY_BUDGET < HISTORY_LIMIT
        fields = len(json.dumps({**started, "backups": []}).encode())
        state = STATE_OVERHEAD + sum(state_bytes(b) for b in batch.backups)
        assert fields <= STATE_OVERHEAD and state <= STATE_BUDGET < STATE_LIMIT


def test_the_defaults_leave_a_run_room_for_every_deletion_the_allowance_plans() -> None:
    config = from_context({})

    assert (config.poll_seconds, config.deadline_seconds) == (60, 10_800)
    assert tracker_polls(10_800, 60, DELETIONS_ALLOWANCE) <= max_polls()


def test_the_deadlines_description_states_what_the_configuration_checks() -> None:
    described = Config.model_fields["deadline_seconds"].description or ""
    found = re.search(
        r"at most (\d+) polls \(for example at most (\d+) s at 10 s polls, at least (\d+) s "
        r"polls for a day\): one tracker execution's history holds (\d+) polls, and (\d+) go to "
        r"the first wait, the poll that sees the deadline passed and ([\d,]+) deferred "
        r"deletions at (\d+) a poll",
        described,
    )
    assert found is not None, described
    polls, at_ten, day_poll, most, spare, allowance, per_poll = (
        int(g.replace(",", "")) for g in found.groups()
    )

    assert (most, allowance, per_poll) == (max_polls(), DELETIONS_ALLOWANCE, DELETIONS_PER_POLL)
    assert spare == tracker_polls(0, 1, DELETIONS_ALLOWANCE)
    assert polls == most - spare
    assert at_ten == 10 * polls and accepted(10, at_ten) and not accepted(10, at_ten + 1)
    assert accepted(day_poll, 86_400) and not accepted(day_poll - 1, 86_400)


@pytest.mark.parametrize(
    ("poll_seconds", "deadline_seconds"),
    [(10, 86_400), (60, 86_400), (10, 8751), (98, 86_400)],
)
def test_settings_with_which_the_history_would_overflow_are_refused(
    poll_seconds: int, deadline_seconds: int
) -> None:
    with pytest.raises(ConfigError) as excinfo:
        from_context({"pollSeconds": poll_seconds, "deadlineSeconds": deadline_seconds})

    message = str(excinfo.value)
    polls = tracker_polls(deadline_seconds, poll_seconds, DELETIONS_ALLOWANCE)
    assert message.startswith(
        f"context key deadlineSeconds={deadline_seconds}: with pollSeconds={poll_seconds}, "
        f"a run followed to this deadline takes up to {polls} polls, and one tracker execution "
        f"holds at most {max_polls()}"
    )
    # What to do instead, exactly at the edge of what fits.
    found = re.search(
        r"raise pollSeconds to at least (\d+) or lower deadlineSeconds to at most (\d+)", message
    )
    assert found is not None, message
    poll, deadline = int(found[1]), int(found[2])
    assert accepted(poll, deadline_seconds)
    assert not accepted(poll - 1, deadline_seconds)
    assert accepted(poll_seconds, deadline)
    assert not accepted(poll_seconds, deadline + 1)


# ---- the executions a run starts --------------------------------------------------------------


@pytest.fixture
def pass_machine() -> Iterator[str]:
    with mock_aws():
        yield boto3.client("stepfunctions").create_state_machine(
            name="tracker",
            definition=json.dumps(PASS_MACHINE),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]


def inputs(sfn: Any, arns: list[str]) -> list[dict[str, Any]]:
    return [json.loads(sfn.describe_execution(executionArn=a)["input"]) for a in arns]


def test_at_the_defaults_a_run_of_a_batch_is_one_execution(pass_machine: str) -> None:
    sfn = boto3.client("stepfunctions")
    backups = fleet(BATCH, 1)

    [arn] = start_trackers(
        sfn, pass_machine, "scheduled-1", backups, poll_seconds=60, deadline_seconds=10_800
    )

    [started] = inputs(sfn, [arn])
    name = execution_name("scheduled-1", 1, backups)
    assert arn.endswith(f":{name}")
    assert started == execution_input(
        "scheduled-1", name, Batch(backups), poll_seconds=60, deadline_seconds=10_800
    )
    assert started["maxPolls"] == tracker_polls(10_800, 60, BATCH)


def test_at_the_defaults_one_backup_more_than_a_batch_takes_a_second_execution(
    pass_machine: str,
) -> None:
    sfn = boto3.client("stepfunctions")

    arns = start_trackers(
        sfn,
        pass_machine,
        "scheduled-1",
        fleet(BATCH + 1, 1),
        poll_seconds=60,
        deadline_seconds=10_800,
    )

    assert [len(i["backups"]) for i in inputs(sfn, arns)] == [BATCH, 1]


def test_a_retried_run_starts_no_execution_twice(pass_machine: str) -> None:
    sfn = boto3.client("stepfunctions")
    backups = fleet(3, 1)

    arns = start_trackers(
        sfn, pass_machine, "scheduled-1", backups, poll_seconds=60, deadline_seconds=10_800
    )
    again = start_trackers(
        sfn, pass_machine, "scheduled-1", backups, poll_seconds=60, deadline_seconds=10_800
    )

    assert again == arns
    assert len(sfn.list_executions(stateMachineArn=pass_machine)["executions"]) == len(arns) == 1


def test_a_retry_that_hands_over_more_backups_leaves_none_unfollowed(pass_machine: str) -> None:
    # The first attempt handed over two backups, then died; its retry also started a third
    # (a server the first attempt had run out of time for).
    sfn = boto3.client("stepfunctions")
    first = fleet(2, 1)
    more = fleet(3, 1)

    start_trackers(sfn, pass_machine, "scheduled-1", first, poll_seconds=60, deadline_seconds=600)
    arns = start_trackers(
        sfn, pass_machine, "scheduled-1", more, poll_seconds=60, deadline_seconds=600
    )

    followed = {b["backupId"] for started in inputs(sfn, arns) for b in started["backups"]}
    assert followed == {b["backupId"] for b in more}


def test_settings_the_configuration_refuses_are_followed_more_slowly_within_the_history(
    pass_machine: str,
) -> None:
    # The function's own range is wider than the configuration's: a poll a second for a day
    # would take 86,400 polls. The run stays one execution, polled just slowly enough.
    sfn = boto3.client("stepfunctions")
    assert not accepted(10, 86_400)

    arns = start_trackers(
        sfn, pass_machine, "manual-1", fleet(2, 0), poll_seconds=1, deadline_seconds=86_400
    )

    [started] = inputs(sfn, arns)
    assert len(started["backups"]) == 2
    slower = started["pollSeconds"]
    assert tracker_history(started["maxPolls"]) <= HISTORY_BUDGET
    assert started["maxPolls"] == tracker_polls(86_400, slower, 0) <= max_polls()
    assert tracker_polls(86_400, slower - 1, 0) > max_polls()
