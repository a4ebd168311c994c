"""Compliance end to end: the synthesized stack's function environment, its tracker in moto's
Step Functions, its topic, history table and scheduler in moto, and the emulator.

EventBridge Scheduler in moto keeps a one-time schedule but never fires it; these tests deliver
its input to the handler at its time, as the service would."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.cloud import LocalCloud
from local.emulator import Emulator, ManualClock
from local.runtime import wait_for_execution
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.e2e.conftest import Setup

SELECTED = {"opsworks-cm-backup": "enabled"}
TRACKER_ALERT = "OpsWorks CM backup needs attention"


CLOUD = Setup(machines=("Tracker",))


def slot_event(clock: ManualClock) -> dict[str, str]:
    return {"source": "schedule", "scheduledTime": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {r["serverName"]: r["outcome"] for r in report["results"]}


def fire_next_try(report: dict[str, Any], clock: ManualClock) -> dict[str, Any]:
    """What EventBridge Scheduler does with the one-time schedule the run left: at its time,
    invoke the function with its input."""
    schedule = boto3.client("scheduler").get_schedule(Name=report["nextTry"]["schedule"])
    assert schedule["ScheduleExpression"] == (
        f"at({datetime.fromisoformat(report['nextTry']['at']):%Y-%m-%dT%H:%M:%S})"
    )
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == FakeLambdaContext().invoked_function_arn
    clock.advance(
        max(0.0, (datetime.fromisoformat(report["nextTry"]["at"]) - clock.now()).total_seconds())
    )
    answer: dict[str, Any] = lambda_handler(
        json.loads(schedule["Target"]["Input"]), FakeLambdaContext()
    )
    return answer


def follow(report: dict[str, Any]) -> None:
    sfn = boto3.client("stepfunctions")
    for arn in report["trackerExecutionArns"]:
        assert wait_for_execution(sfn, arn)["status"] == "SUCCEEDED"


def test_a_server_busy_at_its_slot_is_backed_up_later_in_the_same_slot(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud
) -> None:
    # Given two tagged servers, one in maintenance for another ten minutes
    backend = emulator.backend
    backend.add_server("chef-a", tags=SELECTED)
    backend.add_server("chef-busy", status="UNDER_MAINTENANCE", tags=SELECTED, busy_seconds=600)
    add_own_backup(emulator, "chef-busy", 1)

    # When the slot runs, and its retry fires fifteen minutes later
    first = lambda_handler(slot_event(clock), FakeLambdaContext())
    follow(first)
    retry = fire_next_try(first, clock)
    follow(retry)

    # Then chef-busy was tried again in the same slot and backed up once, the backup followed
    # by the tracker to OK; nothing alerted
    assert outcomes(first) == {"chef-a": "STARTED", "chef-busy": "RETRYING"}
    assert "UNDER_MAINTENANCE" in first["results"][1]["reason"]
    assert first["nextTry"]["servers"] == ["chef-busy"]
    assert first["nextTry"]["attempt"] == 1
    assert outcomes(retry) == {"chef-busy": "STARTED"}
    assert retry["runId"] == first["runId"]
    new = backend.backups[retry["results"][0]["backupId"]]
    assert new.status == "OK"
    assert new.description.startswith(f"[opsworks-cm-backup run={first['runId']} tier=")
    made = [b for b in backend.backups.values() if b.server_name == "chef-busy"]
    assert len(made) == 2  # the day-old one and the slot's
    assert retry["nextTry"] is None
    assert all(c["compliant"] for c in retry["compliance"])
    assert cloud.alerts() == []


def test_a_server_busy_past_the_window_is_missed_non_compliant_and_named_in_an_alert(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a retry window of 30 minutes (two tries), a server whose maintenance outlasts it and
    # whose newest good backup is two days old
    monkeypatch.setenv("RETRY_WINDOW_MINUTES", "30")
    get_settings.cache_clear()
    backend = emulator.backend
    backend.add_server("chef-ok", tags=SELECTED)
    backend.add_server("chef-stuck", status="UNDER_MAINTENANCE", tags=SELECTED, busy_seconds=7200)
    old = add_own_backup(emulator, "chef-stuck", 2)

    # When the slot runs and both of its tries fire
    first = lambda_handler(slot_event(clock), FakeLambdaContext())
    follow(first)
    second = fire_next_try(first, clock)
    last = fire_next_try(second, clock)

    # Then the last try counts it missed, saying why; it is out of its RPO, with the reasons of
    # the slot's runs, and the compliance alert names it while chef-ok's backup succeeded
    assert outcomes(second) == {"chef-stuck": "RETRYING"}
    assert (second["nextTry"]["attempt"], last["nextTry"]) == (2, None)
    [missed] = last["results"]
    assert missed["outcome"] == "FAILED"
    assert "at every try of the slot's retry window" in missed["reason"]
    judged = {c["serverName"]: c for c in last["compliance"]}
    assert judged["chef-ok"]["compliant"]
    stuck = judged["chef-stuck"]
    assert (stuck["compliant"], stuck["newestOkBackup"], stuck["catchingUp"]) == (False, old, None)
    assert stuck["ageSeconds"] > stuck["rpoHours"] * 3600
    assert any("UNDER_MAINTENANCE" in reason for reason in stuck["reasons"])
    # One alert from the slot's own run (its backup was two days old), one from the last try
    # (missed); none from the try between.
    compliance_alerts = [a for a in cloud.alerts() if a["subject"] != TRACKER_ALERT]
    assert len(compliance_alerts) == 2
    assert compliance_alerts[-1]["subject"] == "OpsWorks CM backup: 1 server(s) outside their RPO"
    assert (
        f"- chef-stuck: newest good backup {stuck['ageSeconds'] / 3600:.1f} h old"
        in (compliance_alerts[-1]["message"])
    )
    assert "at every try of the slot's retry window" in compliance_alerts[-1]["message"]


def test_a_server_never_backed_up_for_lack_of_room_turns_non_compliant_and_alerts(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud
) -> None:
    # Given a full account: chef-a can make its own room (two backups of its own); chef-tight
    # has only a backup made by hand, twenty hours old, and nothing it may lose
    backend = emulator.backend
    backend.add_server("chef-a", tags=SELECTED)
    backend.add_server("chef-tight", tags=SELECTED)
    for days in (1, 2):
        add_own_backup(emulator, "chef-a", days)
    backend.add_backup("chef-tight", clock.now() - timedelta(hours=20))
    backend.config.manual_backup_limit = 3

    # When the schedule runs two days in a row
    day_one = lambda_handler(slot_event(clock), FakeLambdaContext())
    follow(day_one)
    clock.advance(hours=24)
    day_two = lambda_handler(slot_event(clock), FakeLambdaContext())
    follow(day_two)

    # Then chef-tight failed for room both days; on day one it was still within its RPO, on
    # day two it is not, and the alert names it with the reason, while chef-a kept succeeding
    for report in (day_one, day_two):
        assert outcomes(report) == {"chef-a": "STARTED", "chef-tight": "FAILED"}
    judged = [{c["serverName"]: c for c in r["compliance"]} for r in (day_one, day_two)]
    assert judged[0]["chef-tight"]["compliant"] is True
    assert judged[1]["chef-tight"]["compliant"] is False
    assert judged[1]["chef-a"]["compliant"] is True
    [alert] = [a for a in cloud.alerts() if a["subject"] != TRACKER_ALERT]
    assert "chef-tight" in alert["message"] and "chef-a:" not in alert["message"]
    assert "no room under the account's manual-backup limit" in alert["message"]
    assert f"run {day_one['runId']}" in alert["message"]
