"""One poll of the tracker (follow.py) against the emulator through the real adapter: one read of
the account per poll whatever the number of backups, the deferred deletions of a backup only
after it is OK and at most DELETIONS_PER_POLL a poll, refusals noted, and the state the next poll
and the alert read."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy
from backup_orchestrator.domain.history_budget import DELETIONS_PER_POLL, STATE_BUDGET, STATE_LIMIT
from backup_orchestrator.domain.tracking import Batch, execution_input, plan_batches
from backup_orchestrator.run.follow import poll
from local.emulator import Emulator, ManualClock
from local.emulator.errors import ServiceError, ValidationException
from tests.conftest import add_own_backup

QUICK = RetryPolicy(attempts=2, base_seconds=0, cap_seconds=0)
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:tracker:run-1-1"


def plenty() -> float:
    return 600.0


@pytest.fixture
def service(opsworkscm: Any) -> OpsWorksCM:
    return OpsWorksCM(opsworkscm, QUICK)


def server(emulator: Emulator, name: str) -> str:
    if name not in emulator.backend.servers:
        emulator.backend.add_server(name)
    return name


def start(emulator: Emulator, name: str) -> str:
    server(emulator, name)
    answer = emulator.backend.op_create_backup({"ServerName": name}, "caller")
    return str(answer["Backup"]["BackupId"])


def state_of(backups: list[dict[str, Any]], deadline: int = 3600) -> dict[str, Any]:
    return execution_input(
        "run-1", "run-1-1", Batch(backups), poll_seconds=60, deadline_seconds=deadline
    )


def polls_until_finished(
    state: dict[str, Any], service: OpsWorksCM, clock: ManualClock, time_left: Callable[[], float]
) -> dict[str, Any]:
    while not state.get("finished"):
        clock.advance(60)
        state, _ = poll(state, service, EXECUTION, time_left=time_left)
    return state


def calls(emulator: Emulator, operation: str) -> list[dict[str, Any]]:
    return [c.params for c in emulator.calls if c.operation == operation]


def test_one_read_of_the_account_per_poll_whatever_the_number_of_backups(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    emulator.config.server_limit = 40
    backups = [
        {"serverName": f"chef-{n}", "backupId": start(emulator, f"chef-{n}"), "deferredDeletes": []}
        for n in range(30)
    ]
    emulator.calls.clear()

    state, counts = poll(state_of(backups), service, EXECUTION, time_left=plenty)

    assert [c.operation for c in emulator.calls] == ["DescribeBackups"]
    assert calls(emulator, "DescribeBackups") == [{}]
    assert len(state["backups"]) == 30 and state["polls"] == 1 and not state["finished"]
    assert counts.succeeded == [] and counts.failed == 0


def test_deletions_come_only_after_ok_and_the_run_ends_ok(
    emulator: Emulator, service: OpsWorksCM, clock: ManualClock
) -> None:
    older = [add_own_backup(emulator, server(emulator, "chef-a"), days) for days in (2, 3)]
    new = start(emulator, "chef-a")
    state = state_of([{"serverName": "chef-a", "backupId": new, "deferredDeletes": older}])

    state, _ = poll(state, service, EXECUTION, time_left=plenty)  # still IN_PROGRESS
    assert calls(emulator, "DeleteBackup") == []
    clock.advance(600)
    state, counts = poll(state, service, EXECUTION, time_left=plenty)

    assert [c["BackupId"] for c in calls(emulator, "DeleteBackup")] == older
    assert state["finished"] and not state["failed"] and "alert" not in state
    [result] = state["results"]
    assert (result["outcome"], result["backupId"]) == ("OK", new)
    assert counts.succeeded == [result["elapsedSeconds"]] and counts.refused == 0


def test_a_refused_deletion_leaves_the_others_going_and_alerts(
    emulator: Emulator, service: OpsWorksCM, clock: ManualClock
) -> None:
    locked, other = (add_own_backup(emulator, server(emulator, "chef-a"), days) for days in (3, 2))
    new = start(emulator, "chef-a")

    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DeleteBackup" and params["BackupId"] == locked:
            return ValidationException("locked by a legal hold")
        return None

    emulator.faults.append(refuse)
    clock.advance(600)

    state, counts = poll(
        state_of([{"serverName": "chef-a", "backupId": new, "deferredDeletes": [locked, other]}]),
        service,
        EXECUTION,
        time_left=plenty,
    )

    assert emulator.backend.backups[other].status == "DELETING"
    assert emulator.backend.backups[locked].status == "OK"
    assert counts.refused == 1
    assert state["finished"] and not state["failed"]
    assert state["results"][0]["retentionProblem"] is True
    assert (
        f"first {locked} (ValidationException: locked by a legal hold)"
        in (state["alert"]["message"])
    )
    assert state["alert"]["message"].endswith(f"Tracker execution: {EXECUTION}")


def test_at_most_a_poll_s_share_of_deletions_then_the_next_poll_goes_on(
    emulator: Emulator, service: OpsWorksCM, clock: ManualClock
) -> None:
    emulator.config.manual_backup_limit = 1000
    older = [
        add_own_backup(emulator, server(emulator, "chef-a"), 2 + n / 100)
        for n in range(DELETIONS_PER_POLL + 5)
    ]
    new = start(emulator, "chef-a")
    clock.advance(600)
    state = state_of([{"serverName": "chef-a", "backupId": new, "deferredDeletes": older}])

    state, _ = poll(state, service, EXECUTION, time_left=plenty)

    assert len(calls(emulator, "DeleteBackup")) == DELETIONS_PER_POLL
    assert not state["finished"] and state["backups"][0]["deferredDeletes"] == older[-5:]
    state, _ = poll(state, service, EXECUTION, time_left=plenty)
    assert len(calls(emulator, "DeleteBackup")) == DELETIONS_PER_POLL + 5
    assert state["finished"] and state["results"][0]["outcome"] == "OK"


def test_no_deletion_starts_when_the_invocation_is_short_of_time(
    emulator: Emulator, service: OpsWorksCM, clock: ManualClock
) -> None:
    old = add_own_backup(emulator, server(emulator, "chef-a"), 2)
    new = start(emulator, "chef-a")
    clock.advance(600)

    state, _ = poll(
        state_of([{"serverName": "chef-a", "backupId": new, "deferredDeletes": [old]}]),
        service,
        EXECUTION,
        time_left=lambda: 5.0,
    )

    assert calls(emulator, "DeleteBackup") == []
    assert not state["finished"] and state["backups"][0]["okAfterSeconds"] > 0


def test_a_failed_or_vanished_backup_keeps_its_old_backups_and_fails_the_run(
    emulator: Emulator, service: OpsWorksCM, clock: ManualClock
) -> None:
    emulator.config.fail_backups = ("puppet-*",)
    kept = add_own_backup(emulator, server(emulator, "puppet-a"), 2)
    bad = start(emulator, "puppet-a")
    state = state_of(
        [
            {"serverName": "puppet-a", "backupId": bad, "deferredDeletes": [kept]},
            {"serverName": "chef-x", "backupId": "chef-x-20200101000000000", "deferredDeletes": []},
        ]
    )

    state = polls_until_finished(state, service, clock, plenty)

    assert calls(emulator, "DeleteBackup") == []
    assert {r["outcome"] for r in state["results"]} == {"FAILED", "VANISHED"}
    assert state["failed"] and "needs attention" in state["alert"]["message"]


def test_the_last_poll_ends_what_is_still_running(
    emulator: Emulator, service: OpsWorksCM, clock: ManualClock
) -> None:
    emulator.config.backup_seconds = 10**6
    stuck = start(emulator, "chef-a")
    state = {**state_of([{"serverName": "chef-a", "backupId": stuck, "deferredDeletes": []}])}
    state["maxPolls"] = 2

    state, _ = poll(state, service, EXECUTION, time_left=plenty)
    assert not state["finished"]
    clock.advance(timedelta(minutes=1).total_seconds())
    state, counts = poll(state, service, EXECUTION, time_left=plenty)

    assert state["finished"] and state["results"][0]["outcome"] == "TIMED_OUT"
    assert counts.failed == 1


def test_a_run_of_200_backups_ending_at_their_worst_fits_one_state(
    emulator: Emulator, service: OpsWorksCM
) -> None:
    # 200 backups of servers with the longest names, each failing with the longest words, outside
    # ASCII: the biggest state a run of 200 can leave, with its alert.
    emulator.config.server_limit = 250
    emulator.config.manual_backup_limit = 1000
    names = [f"chef-{n:03d}-" + "x" * 31 for n in range(200)]
    backups = [
        {"serverName": n, "backupId": start(emulator, n), "deferredDeletes": []} for n in names
    ]
    for backup in backups:
        record = emulator.backend.backups[str(backup["backupId"])]
        record.status, record.status_description = "FAILED", "é" * 2000
    state = state_of(backups)
    [batch] = plan_batches(backups, poll_seconds=60, deadline_seconds=3600)

    state, _ = poll(state, service, EXECUTION, time_left=plenty)

    assert len(batch.backups) == 200 and state["finished"] and len(state["results"]) == 200
    answer = json.dumps(state)
    assert len(answer) <= STATE_BUDGET < STATE_LIMIT
    assert len(json.dumps({"state": state, "execution": EXECUTION})) <= STATE_LIMIT
    assert len(state["alert"]["message"].encode()) < 256 * 1024  # SNS's limit
