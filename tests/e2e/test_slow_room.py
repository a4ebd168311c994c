"""Room that is slow to come, end to end: in an account at its manual-backup limit, on a service
that counts a backup until its deletion has ended and takes 20 minutes over it, every server that
needs a delete-then-create waits for its room in its slot, through the one-time retry schedules,
and is backed up in it, deleting no more than it needs, the limit never exceeded.

The stack as synthesized, its tracker in moto's Step Functions (tests/e2e/conftest.py).
EventBridge Scheduler in moto keeps a one-time schedule but never fires it: the tests deliver its
input to the handler at its time, as the service would (as test_compliance.py does). The function
is given a little time to wait for room in each run (it waits in real time)."""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
import pytest

from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run.start import TIMEOUT_MARGIN_MS
from local.cloud import LocalCloud
from local.emulator import Emulator, ManualClock
from local.emulator.errors import ServiceError
from local.emulator.faults import DeletionWitness
from local.runtime import wait_for_execution
from tests.chaos.invariants import Run, capture, check_invariants
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.e2e.conftest import Setup

CLOUD = Setup(machines=("Tracker",))
SELECTED = {"opsworks-cm-backup": "enabled"}
TRACKER_ALERT = "OpsWorks CM backup needs attention"
DELETE_MINUTES = 20
# What each run may wait for room, beyond the function's safety margin (real time).
WAIT_MS = 1_500


@dataclass
class LimitWatch:
    """Before every call that reaches the account (so after the one before it), the manual backups
    the account counts against its limit; the last look is taken by `look` after each run."""

    emulator: Emulator
    seen: list[tuple[str, int, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self, operation: str, params: dict[str, Any]) -> ServiceError | None:
        self.look(operation)
        return None

    def look(self, when: str = "after the run") -> None:
        backend = self.emulator.backend
        with backend.lock:
            backend.settle()
            used, limit = backend.manual_backups_used(), backend.config.manual_backup_limit
        with self._lock:
            self.seen.append((when, used, limit))

    def exceeded(self) -> list[tuple[str, int, int]]:
        return [seen for seen in self.seen if seen[1] > seen[2]]


@pytest.fixture
def slow_room(emulator: Emulator, cloud: LocalCloud) -> LimitWatch:
    """The service counts a backup being deleted until its deletion ends, 20 minutes later; a
    witness of every deletion and a watch on the limit see every call."""
    emulator.config.deleting_counts_toward_limit = True
    emulator.config.delete_seconds = DELETE_MINUTES * 60
    watch = LimitWatch(emulator)
    emulator.faults[:0] = [DeletionWitness(emulator), watch]
    return watch


def context() -> FakeLambdaContext:
    return FakeLambdaContext(remaining_ms=TIMEOUT_MARGIN_MS + WAIT_MS)


def slot_event(clock: ManualClock) -> dict[str, str]:
    return {"source": "schedule", "scheduledTime": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {r["serverName"]: r["outcome"] for r in report["results"]}


def retry_event(report: dict[str, Any], clock: ManualClock) -> dict[str, Any]:
    """What EventBridge Scheduler does with the one-time schedule the run left: at its time, it
    invokes the function with its input (returned here, the clock moved to that time)."""
    schedule = boto3.client("scheduler").get_schedule(Name=report["nextTry"]["schedule"])
    at = datetime.fromisoformat(report["nextTry"]["at"])
    assert schedule["ScheduleExpression"] == f"at({at:%Y-%m-%dT%H:%M:%S})"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == FakeLambdaContext().invoked_function_arn
    clock.advance(max(0.0, (at - clock.now()).total_seconds()))
    event: dict[str, Any] = json.loads(schedule["Target"]["Input"])
    return event


def follow(report: dict[str, Any]) -> None:
    sfn = boto3.client("stepfunctions")
    for arn in report["trackerExecutionArns"]:
        assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"


@dataclass
class Slot:
    """The runs of one slot: its own and each try after it, with the events they got."""

    emulator: Emulator
    clock: ManualClock
    watch: LimitWatch
    runs: list[Run] = field(default_factory=list)

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        report: dict[str, Any] = lambda_handler(event, context())
        self.watch.look()
        self.runs.append(Run(event, report))
        follow(report)
        return report

    def through(self, *, tries: int = 8) -> list[dict[str, Any]]:
        """The slot's run and every try it schedules, at most `tries` of them."""
        report = self.invoke(slot_event(self.clock))
        while report["nextTry"] is not None and len(self.runs) <= tries:
            report = self.invoke(retry_event(report, self.clock))
        return [run.report for run in self.runs]


def deletions(emulator: Emulator) -> list[str]:
    return [str(c.params["BackupId"]) for c in emulator.calls_to("DeleteBackup") if not c.error]


def test_servers_whose_room_is_slow_to_come_are_backed_up_in_their_slot(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud, slow_room: LimitWatch
) -> None:
    # Given an account at its limit (6) with three servers, each with two good backups of its
    # own, so each must lose its older one before its new backup fits
    backend = emulator.backend
    names = ["chef-a", "chef-b", "chef-c"]
    older = {}
    for name in names:
        backend.add_server(name, tags=SELECTED)
        add_own_backup(emulator, name, 1)
        older[name] = add_own_backup(emulator, name, 2)
    backend.config.manual_backup_limit = backend.manual_backups_used()
    before = capture(emulator)

    # When the slot runs, and then each try it schedules, at its time
    slot = Slot(emulator, clock, slow_room)
    first, *later = slot.through()

    # Then the slot's run deleted each server's older backup and, with those deletions still
    # counted when it stopped waiting, left the three RETRYING in the slot, waiting for that room
    assert outcomes(first) == dict.fromkeys(names, "RETRYING")
    for result in first["results"]:
        assert [d["backupId"] for d in result["deleted"]] == [older[result["serverName"]]]
        assert "still being freed" in result["reason"]
        assert (
            "tried again later in the slot, and that room is kept for it: at " in (result["reason"])
        )
    assert first["nextTry"]["servers"] == first["nextTry"]["waitingForRoom"] == names
    # The try 15 minutes later still found them counted (20 minutes): RETRYING again, nothing
    # more deleted; the try after that backed all three up, deleting nothing
    assert [outcomes(r) for r in later] == [
        dict.fromkeys(names, "RETRYING"),
        dict.fromkeys(names, "STARTED"),
    ]
    assert later[0]["nextTry"]["waitingForRoom"] == names
    assert all(r["deleted"] == [] for report in later for r in report["results"])
    assert later[-1]["nextTry"] is None
    assert {r["runId"] for r in (first, *later)} == {first["runId"]}
    # One deletion per server in all, one backup per server, OK, and the limit never exceeded
    assert sorted(deletions(emulator)) == sorted(older.values())
    made = [
        backend.backups[r["backupId"]] for r in later[-1]["results"] if r["outcome"] == "STARTED"
    ]
    assert sorted(b.server_name for b in made) == names
    assert {b.status for b in made} == {"OK"}
    assert slow_room.seen and slow_room.exceeded() == []
    # No run counted a server missed: none FAILED, every server compliant, nothing alerted
    assert all(o != "FAILED" for r in slot.runs for o in outcomes(r.report).values())
    assert all(c["compliant"] for r in slot.runs for c in r.report["compliance"])
    assert cloud.alerts() == []
    check_invariants(before, capture(emulator), slot.runs)


@pytest.mark.chaos
@pytest.mark.parametrize("seed", [3, 11])
def test_a_fleet_at_its_limit_waits_for_slow_room_in_its_slot(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud, slow_room: LimitWatch, seed: int
) -> None:
    # Given an account at its limit with a dozen servers (more than the function backs up side
    # by side), each with 2-4 good backups of its own and some with a retention tag, so most must
    # lose backups before their new one fits; and one of them in maintenance for 25 minutes
    rng = random.Random(seed)
    backend = emulator.backend
    names = [f"chef-{i:02d}" for i in range(12)]
    backend.config.server_limit = len(names) + 2
    for i, name in enumerate(names):
        tags = dict(SELECTED)
        if rng.random() < 0.3:
            tags["opsworks-cm-backup:retain"] = rng.choice(["2", "3"])
        backend.add_server(
            name,
            tags=tags,
            status="UNDER_MAINTENANCE" if i == 5 else "HEALTHY",
            busy_seconds=1500 if i == 5 else None,
        )
        for days in sorted(rng.sample(range(1, 10), rng.randint(2, 4))):
            add_own_backup(emulator, name, days + i / 100)
    backend.config.manual_backup_limit = backend.manual_backups_used()
    before = capture(emulator)

    # When the slot runs, and each try it schedules
    slot = Slot(emulator, clock, slow_room)
    reports = slot.through()

    # Then every server was backed up once in the slot, none FAILED, the room each waited for
    # made once (no try deleted for a server already waiting), and the limit never exceeded
    final = {r["serverName"]: r for report in reports for r in report["results"]}
    assert {n: r["outcome"] for n, r in final.items()} == dict.fromkeys(names, "STARTED")
    assert all(o != "FAILED" for r in reports for o in outcomes(r).values())
    for report in reports[1:]:
        waiting = set(report_before(reports, report)["nextTry"]["waitingForRoom"])
        for result in report["results"]:
            if result["serverName"] in waiting:
                assert result["deleted"] == [], result
    assert slow_room.exceeded() == []
    assert {backend.backups[r["backupId"]].status for r in final.values()} == {"OK"}
    check_invariants(before, capture(emulator), slot.runs)


def report_before(reports: list[dict[str, Any]], report: dict[str, Any]) -> dict[str, Any]:
    return reports[reports.index(report) - 1]
