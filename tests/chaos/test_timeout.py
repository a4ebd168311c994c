"""The function near its time limit: servers it cannot start in time fail, saying why."""

from __future__ import annotations

import random

from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run.start import TIMEOUT_MARGIN_MS
from local.emulator import Emulator
from tests.chaos.conftest import SCHEDULED, DwindlingContext, build_fleet, outcomes, results
from tests.chaos.invariants import Run, capture, check_invariants
from tests.conftest import FakeLambdaContext
from tests.support.fleet import Cloud, mutating_calls

STEP_MS = 1_000
# The reads of the remaining time before the first server's own check: Powertools' idempotency
# layer (for the in-progress record's expiry). The orchestrator then reads it once per server,
# before making that server's room and starting its backup.
READS_BEFORE_CREATES = 1


def dwindling(creates_in_time: int) -> DwindlingContext:
    """A context with time for the checks and `creates_in_time` CreateBackups, no more."""
    reads_in_time = READS_BEFORE_CREATES + creates_in_time
    return DwindlingContext(
        remaining_ms=TIMEOUT_MARGIN_MS + (reads_in_time - 1) * STEP_MS, step_ms=STEP_MS
    )


def test_too_little_time_starts_nothing_and_deletes_nothing(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given five servers in an account so full that a real run would delete five old backups
    names = build_fleet(emulator, random.Random(41), 5, tight=5)
    before = capture(emulator)

    # When the function is invoked with 5 seconds left
    report = lambda_handler(SCHEDULED, FakeLambdaContext(remaining_ms=5_000))

    # Then every server failed, saying why, and nothing was deleted or created
    after = capture(emulator)
    assert outcomes(report) == dict.fromkeys(names, "FAILED")
    for result in report["results"]:
        assert "time limit (5 s left)" in result["reason"]
        assert result["deleted"] == result["deferredDeletes"] == []
    assert mutating_calls(emulator) == []
    assert report["trackerExecutionArn"] is None
    check_invariants(before, after, [Run(SCHEDULED, report)])


def test_time_running_out_mid_run_fails_the_rest_with_a_reason(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given six servers in a full account, and time for only three CreateBackups
    names = build_fleet(emulator, random.Random(42), 6, tight=3)
    context = dwindling(creates_in_time=3)
    before = capture(emulator)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, context)

    # Then three servers started and three failed, saying why; only the started ones were
    # handed to the tracker, with their deferred deletions
    after = capture(emulator)
    assert context.reads == READS_BEFORE_CREATES + len(names)
    started = sorted(n for n, outcome in outcomes(report).items() if outcome == "STARTED")
    failed = sorted(n for n, outcome in outcomes(report).items() if outcome == "FAILED")
    assert (len(started), len(failed)) == (3, 3)
    for name in failed:
        assert "close to its time limit" in results(report)[name]["reason"]
        assert "the next run includes this server" in results(report)[name]["reason"]
        assert results(report)[name]["deferredDeletes"] == []
    [tracker_input] = cloud.tracker_inputs()
    assert sorted(b["serverName"] for b in tracker_input["backups"]) == started
    check_invariants(before, after, [Run(SCHEDULED, report)])


def test_time_running_out_after_making_room_deletes_nothing_for_servers_not_started(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given four servers in an account where four old backups must go to make room, and time
    # for the checks but for no CreateBackup
    build_fleet(emulator, random.Random(43), 4, tight=4)
    before = capture(emulator)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, dwindling(creates_in_time=0))

    # Then no server started, and so nothing was deleted to make room
    after = capture(emulator)
    assert set(outcomes(report).values()) == {"FAILED"}
    check_invariants(before, after, [Run(SCHEDULED, report)])
    assert emulator.calls_to("DeleteBackup") == []
    for result in report["results"]:
        assert result["deleted"] == []
