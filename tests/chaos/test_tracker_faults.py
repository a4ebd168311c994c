"""Backups that go wrong after they started, followed by the synthesized tracker in moto."""

from __future__ import annotations

import json
import random
from typing import Any

import boto3
import pytest

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from local.emulator.errors import ServiceError, ThrottlingException
from tests.chaos.conftest import SCHEDULED, TrackedCloud, build_fleet, outcomes, results
from tests.chaos.invariants import Run, capture, check_invariants, gone_or_going
from tests.conftest import FakeLambdaContext

PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


def deferred(report: dict[str, Any], server: str) -> list[str]:
    return [d["backupId"] for d in results(report)[server]["deferredDeletes"]]


@pytest.mark.chaos
def test_failed_backup_alerts_fails_the_execution_and_keeps_that_servers_backups(
    emulator: Emulator, tracked: TrackedCloud
) -> None:
    # Given four servers keeping one backup each (so every server has deferred deletions), and
    # the backups of chef-01 and chef-03 ending FAILED
    build_fleet(emulator, random.Random(21), 4)
    for server in emulator.backend.servers.values():
        server.tags["opsworks-cm-backup:retain"] = "1"
    emulator.config.fail_backups = ("chef-0[13]",)
    before = capture(emulator)

    # When the schedule fires and the tracker follows the backups to the end
    report = lambda_handler(SCHEDULED, FakeLambdaContext())
    execution = tracked.wait_for(report["trackerExecutionArn"])

    # Then the execution failed with one alert naming both failed backups, the good servers'
    # deferred deletions were applied, and the failed servers' were not
    after = capture(emulator)
    assert set(outcomes(report).values()) == {"STARTED"}
    assert [e["executionArn"] for e in tracked.executions()] == [report["trackerExecutionArn"]]
    assert execution["status"] == "FAILED"
    assert execution["error"] == "BackupsNeedAttention"
    [alert] = tracked.alerts()
    for name in ("chef-01", "chef-03"):
        backup_id = results(report)[name]["backupId"]
        assert f"{name}: backup {backup_id} ended FAILED" in alert["message"]
        assert deferred(report, name)
        assert not any(gone_or_going(after, b) for b in deferred(report, name))
    for name in ("chef-00", "chef-02"):
        assert f"{name}: backup {results(report)[name]['backupId']} is OK." in alert["message"]
        assert deferred(report, name)
        assert all(gone_or_going(after, b) for b in deferred(report, name))
    check_invariants(before, after, [Run(SCHEDULED, report)])


@pytest.mark.chaos
def test_backup_that_never_finishes_alerts_at_the_deadline_and_keeps_old_backups(
    emulator: Emulator, tracked: TrackedCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two servers whose backups never finish. The deadline setting cannot go under 60 s,
    # which moto's interpreter would really wait, so the orchestrator hands over to a recorder
    # and its exact hand-over is replayed into the synthesized tracker with a 3 s deadline.
    build_fleet(emulator, random.Random(22), 2)
    for server in emulator.backend.servers.values():
        server.tags["opsworks-cm-backup:retain"] = "1"
    emulator.config.backup_seconds = 10**7
    sfn = boto3.client("stepfunctions")
    recorder = sfn.create_state_machine(
        name="hand-over-recorder",
        definition=json.dumps(PASS_MACHINE),
        roleArn="arn:aws:iam::123456789012:role/recorder",
    )["stateMachineArn"]
    monkeypatch.setenv("TRACKER_STATE_MACHINE_ARN", recorder)
    get_settings.cache_clear()
    before = capture(emulator)

    # When the schedule fires and the tracker follows the backups until the deadline
    report = lambda_handler(SCHEDULED, FakeLambdaContext())
    recorded = sfn.describe_execution(executionArn=report["trackerExecutionArn"])
    hand_over = json.loads(recorded["input"])
    hand_over["deadlineSeconds"] = 3
    started = sfn.start_execution(
        stateMachineArn=tracked.local.tracker_arn, input=json.dumps(hand_over)
    )
    execution = tracked.wait_for(started["executionArn"])

    # Then the execution failed with an alert naming both backups, nothing was deleted, and the
    # backups are still running
    after = capture(emulator)
    assert set(outcomes(report).values()) == {"STARTED"}
    assert execution["status"] == "FAILED"
    [alert] = tracked.alerts()
    for name in ("chef-00", "chef-01"):
        backup_id = results(report)[name]["backupId"]
        timed_out = f"{name}: backup {backup_id} was still IN_PROGRESS after 3 seconds"
        assert timed_out in alert["message"]
        assert after.backups[backup_id].status == "IN_PROGRESS"
        assert deferred(report, name)
        assert not any(gone_or_going(after, b) for b in deferred(report, name))
    assert emulator.calls_to("DeleteBackup") == []
    check_invariants(before, after, [Run(SCHEDULED, report)])


def throttled_reads(limit: int | None) -> Any:
    """A fault: the account's backups cannot be read (ThrottlingException), the first `limit`
    times or (None) always."""
    seen: list[str] = []

    def fault(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DescribeBackups" and not params and (limit is None or len(seen) < limit):
            seen.append(operation)
            return ThrottlingException("Rate exceeded")
        return None

    return fault


@pytest.mark.chaos
def test_a_throttling_storm_on_the_account_read_is_ridden_out_by_the_poll_s_retries(
    emulator: Emulator, tracked: TrackedCloud
) -> None:
    # Given two servers keeping one backup each, and the tracker's first two polls finding the
    # account throttled past the function's own retries (5 attempts each)
    build_fleet(emulator, random.Random(23), 2)
    for server in emulator.backend.servers.values():
        server.tags["opsworks-cm-backup:retain"] = "1"
    before = capture(emulator)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())
    emulator.faults.append(throttled_reads(10))

    # When the tracker follows the backups
    execution = tracked.wait_for(report["trackerExecutionArn"], timeout=300)

    # Then the poll was retried by the state machine (ServiceUnavailable), and the run ended OK
    # with its deletions applied and no alert
    after = capture(emulator)
    history = tracked.sfn.get_execution_history(
        executionArn=report["trackerExecutionArn"], maxResults=1000
    )["events"]
    failed = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
    assert failed and set(failed) == {"ServiceUnavailable"}
    assert execution["status"] == "SUCCEEDED"
    assert tracked.alerts() == []
    for name in ("chef-00", "chef-01"):
        assert all(gone_or_going(after, b) for b in deferred(report, name))
    check_invariants(before, after, [Run(SCHEDULED, report)])


@pytest.mark.chaos
def test_an_account_that_stays_throttled_ends_the_run_with_an_alert_and_keeps_backups(
    emulator: Emulator, tracked: TrackedCloud
) -> None:
    # Given a server keeping one backup, and the account's backups never readable again
    build_fleet(emulator, random.Random(24), 1)
    for server in emulator.backend.servers.values():
        server.tags["opsworks-cm-backup:retain"] = "1"
    before = capture(emulator)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())
    emulator.faults.append(throttled_reads(None))

    # When the tracker's poll fails past every retry
    execution = tracked.wait_for(report["trackerExecutionArn"], timeout=600)

    # Then the execution ends (never stuck) with one alert saying the backups could not be
    # followed, and nothing was deleted
    after = capture(emulator)
    assert execution["status"] == "FAILED"
    [alert] = tracked.alerts()
    assert "could not be followed to the end" in alert["message"]
    assert "ServiceUnavailable" in alert["message"]
    assert results(report)["chef-00"]["backupId"] in alert["message"]
    assert not any(gone_or_going(after, b) for b in deferred(report, "chef-00"))
    check_invariants(before, after, [Run(SCHEDULED, report)])
