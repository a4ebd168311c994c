"""The handler end to end: real boto3 clients against the emulator, moto for the rest."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from backup_orchestrator.aws.pacing import TokenBucket
from backup_orchestrator.contract.events import InvalidRequestError
from backup_orchestrator.contract.settings import SettingsError, get_settings
from backup_orchestrator.handlers import orchestrator as handler
from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run.start import TIMEOUT_MARGIN_MS
from local.emulator import Emulator, ManualClock
from local.emulator.errors import InternalFailure, ServiceError
from local.emulator.faults import PollTime
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import Cloud, mutating_calls, tag

SCHEDULED = {"source": "schedule", "scheduledTime": "2026-01-05T12:00:00Z"}


def results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["serverName"]: r for r in report["results"]}


def test_scheduled_run_backs_up_tagged_servers_and_starts_the_tracker(
    emulator: Emulator, cloud: Cloud
) -> None:
    backend = emulator.backend
    backend.add_server("chef-prod")
    backend.add_server("puppet-prod", engine="Puppet", status="RUNNING")
    backend.add_server("chef-busy", status="UNDER_MAINTENANCE")
    backend.add_server("chef-untagged")
    tag(emulator, "chef-prod", "puppet-prod", "chef-busy")

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    outcomes = {name: r["outcome"] for name, r in results(report).items()}
    assert outcomes == {"chef-busy": "FAILED", "chef-prod": "STARTED", "puppet-prod": "STARTED"}
    assert "UNDER_MAINTENANCE" in results(report)["chef-busy"]["reason"]
    assert report["runId"] == "scheduled-20260105T120000Z"
    assert report["quota"] == {"used": 0, "maximum": 50, "usedAfterRun": 2, "usedWhenSettled": 2}
    started = backend.backups[results(report)["chef-prod"]["backupId"]]
    assert started.status == "IN_PROGRESS"
    assert started.description == (
        "[opsworks-cm-backup run=scheduled-20260105T120000Z] scheduled backup"
    )
    [execution] = cloud.executions()
    assert execution["name"].startswith("scheduled-20260105T120000Z-1-")
    assert report["trackerExecutionArn"] == execution["executionArn"]
    tracker_input = json.loads(execution["input"])
    assert tracker_input["pollSeconds"] == 5
    assert tracker_input["deadlineSeconds"] == 60
    assert {b["serverName"] for b in tracker_input["backups"]} == {"chef-prod", "puppet-prod"}


def test_discovery_uses_the_fewest_calls(emulator: Emulator, cloud: Cloud) -> None:
    for name in ("chef-1", "chef-2", "chef-3"):
        emulator.backend.add_server(name)
    tag(emulator, "chef-1", "chef-2")

    lambda_handler(SCHEDULED, FakeLambdaContext())

    operations = sorted(c.operation for c in emulator.calls)
    # The quota is read again once the backups started: the report says what the service says.
    assert operations == sorted(
        ["DescribeServers", "DescribeBackups", "DescribeAccountAttributes"]
        + ["ListTagsForResource"] * 3
        + ["CreateBackup"] * 2
        + ["DescribeAccountAttributes"]
    )


def test_retention_is_deferred_to_the_tracker(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **{"opsworks-cm-backup:retain": "2"})
    old = [add_own_backup(emulator, "chef-prod", d) for d in (1, 2, 3)]

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    result = results(report)["chef-prod"]
    assert result["deleted"] == []
    assert [d["backupId"] for d in result["deferredDeletes"]] == old[1:]
    assert result["retain"] == {"asked": 2, "granted": 2}
    assert mutating_calls(emulator) == ["CreateBackup"]
    assert cloud.tracker_inputs()[0]["backups"][0]["deferredDeletes"] == old[1:]


def test_makes_room_under_the_limit_before_creating(emulator: Emulator, cloud: Cloud) -> None:
    emulator.config.manual_backup_limit = 3
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod")
    old = [add_own_backup(emulator, "chef-prod", d) for d in (1, 2, 3)]

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    result = results(report)["chef-prod"]
    assert result["outcome"] == "STARTED"
    assert [d["backupId"] for d in result["deleted"]] == [old[2]]
    assert "make room" in result["deleted"][0]["reason"]
    assert mutating_calls(emulator) == ["DeleteBackup", "CreateBackup"]


def test_manual_run_selects_named_servers_without_the_tag(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-prod")
    emulator.backend.add_server("chef-other")

    report = lambda_handler(
        {"servers": ["chef-prod"], "retain": 3, "description": "before upgrade"},
        FakeLambdaContext(),
    )

    assert list(results(report)) == ["chef-prod"]
    backup = emulator.backend.backups[results(report)["chef-prod"]["backupId"]]
    assert backup.description.endswith("before upgrade")
    assert results(report)["chef-prod"]["retain"]["asked"] == 3
    # Only the named server's tags are read.
    assert [c.operation for c in emulator.calls].count("ListTagsForResource") == 1


def test_dry_run_changes_nothing_and_says_what_would_happen(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.config.manual_backup_limit = 3
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **{"opsworks-cm-backup:retain": "1"})
    old = [add_own_backup(emulator, "chef-prod", d) for d in (1, 2, 3)]

    report = lambda_handler({"dryRun": True}, FakeLambdaContext())

    result = results(report)["chef-prod"]
    assert report["dryRun"] is True
    assert result["outcome"] == "PLANNED"
    assert [d["backupId"] for d in result["deleted"]] == [old[2]]
    assert [d["backupId"] for d in result["deferredDeletes"]] == old[:2]
    assert mutating_calls(emulator) == []
    assert cloud.executions() == []
    assert cloud.idempotency_records() == []


def test_an_empty_invoke_only_reports_what_a_run_would_do(emulator: Emulator, cloud: Cloud) -> None:
    # Given a full account, where a real run would delete a backup to make room
    emulator.config.manual_backup_limit = 2
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **{"opsworks-cm-backup:retain": "1"})
    for days in (1, 2):
        add_own_backup(emulator, "chef-prod", days)

    # When the function is invoked without a payload (the AWS CLI then sends {})
    report = lambda_handler({}, FakeLambdaContext())

    # Then it is a dry run: the plan is reported and nothing is created or deleted
    assert report["dryRun"] is True
    assert results(report)["chef-prod"]["outcome"] == "PLANNED"
    assert results(report)["chef-prod"]["deleted"] != []
    assert mutating_calls(emulator) == []
    assert cloud.executions() == []


def test_every_tagged_server_is_backed_up_by_hand_when_the_event_says_dry_run_false(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-prod")
    emulator.backend.add_server("chef-untagged")
    tag(emulator, "chef-prod")

    report = lambda_handler({"dryRun": False}, FakeLambdaContext())

    assert report["dryRun"] is False
    assert {name: r["outcome"] for name, r in results(report).items()} == {"chef-prod": "STARTED"}
    assert mutating_calls(emulator) == ["CreateBackup"]


def test_a_scheduled_runs_report_is_in_the_log_under_its_run_id(
    emulator: Emulator, cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulator.backend.add_server("chef-prod")
    emulator.backend.add_server("chef-busy", status="UNDER_MAINTENANCE")
    tag(emulator, "chef-prod", "chef-busy")
    log_stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", log_stream)

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    logged = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    mine = [entry for entry in logged if entry.get("run_id") == report["runId"]]
    [run_line] = [entry for entry in mine if entry["message"] == "run report"]
    assert run_line["report"] == {
        k: v for k, v in report.items() if k not in ("results", "compliance")
    }
    # Each server has its own line: what it got, and where it stands against its RPO.
    servers = {e["server"]: e for e in mine if e["message"] == "server outcome"}
    judged = {c["serverName"]: c for c in report["compliance"]}
    assert set(servers) == {r["serverName"] for r in report["results"]}
    for result in report["results"]:
        line = servers[result["serverName"]]
        assert (line["outcome"], line["reason"], line.get("backup_id")) == (
            result["outcome"],
            result["reason"],
            result["backupId"],
        )
        assert (line.get("retain_asked"), line.get("retain_granted")) == (
            result["retain"]["asked"],
            result["retain"]["granted"],
        )
        assert line["compliant"] == judged[result["serverName"]]["compliant"]
        assert line["rpo_hours"] == judged[result["serverName"]]["rpoHours"]


def test_same_slot_delivered_twice_backs_up_once(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod")

    first = lambda_handler(SCHEDULED, FakeLambdaContext())
    second = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert second == first
    assert mutating_calls(emulator) == ["CreateBackup"]
    assert len(cloud.executions()) == 1


def test_manual_run_overlapping_a_scheduled_one_skips_the_server_being_backed_up(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod")
    scheduled = lambda_handler(SCHEDULED, FakeLambdaContext())

    report = lambda_handler({"servers": ["chef-prod"]}, FakeLambdaContext())

    result = results(report)["chef-prod"]
    assert result["outcome"] == "SKIPPED"
    assert results(scheduled)["chef-prod"]["backupId"] in result["reason"]
    assert "still in progress" in result["reason"]
    assert mutating_calls(emulator) == ["CreateBackup"]


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"servers": ["chef-prod", "ghost"]}, "servers"),
        ({"retain": 0}, "retain"),
        ({"dryRun": "true"}, "dryRun"),
        ({"servers": ["bad name"]}, "servers"),
        ({"description": "x" * 300}, "description"),
        ({"surprise": 1}, "surprise"),
        ({"source": "schedule", "scheduledTime": "soon"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "0001-01-01T00:30:00+01:00"}, "scheduledTime"),
        ({"source": "schedule", "scheduledTime": "9999-12-31T23:30:00-01:00"}, "scheduledTime"),
    ],
)
def test_bad_event_is_rejected_before_any_change(
    emulator: Emulator, cloud: Cloud, event: dict[str, Any], field: str
) -> None:
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod")

    with pytest.raises(InvalidRequestError) as excinfo:
        lambda_handler(event, FakeLambdaContext())

    assert f"field '{field}'" in str(excinfo.value)
    assert mutating_calls(emulator) == []
    assert cloud.executions() == []
    assert cloud.idempotency_records() == []


def test_bad_setting_is_rejected_before_any_change(
    emulator: Emulator, cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RETAIN", "100")
    get_settings.cache_clear()

    with pytest.raises(SettingsError, match="RETAIN='100'"):
        lambda_handler(SCHEDULED, FakeLambdaContext())

    assert emulator.calls == []


def test_server_gone_mid_run_does_not_stop_the_others(emulator: Emulator, cloud: Cloud) -> None:
    for name in ("chef-a", "chef-b", "chef-c"):
        emulator.backend.add_server(name)
    tag(emulator, "chef-a", "chef-b", "chef-c")

    def delete_chef_b(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup" and params["ServerName"] == "chef-b":
            emulator.backend.remove_server("chef-b")
        return None

    emulator.faults.append(delete_chef_b)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    outcomes = {name: r["outcome"] for name, r in results(report).items()}
    assert outcomes == {"chef-a": "STARTED", "chef-b": "SKIPPED", "chef-c": "STARTED"}
    assert "no longer exists" in results(report)["chef-b"]["reason"]
    assert len(cloud.tracker_inputs()[0]["backups"]) == 2


def test_server_changing_state_mid_run_fails_with_the_reason(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")

    def maintenance(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup":
            emulator.backend.set_server_status("chef-a", "UNDER_MAINTENANCE")
        return None

    emulator.faults.append(maintenance)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert results(report)["chef-a"]["outcome"] == "FAILED"
    assert "changed state" in results(report)["chef-a"]["reason"]
    assert cloud.executions() == []


def test_deletions_the_service_still_counts_are_waited_for(
    emulator: Emulator, clock: ManualClock, cloud: Cloud
) -> None:
    # Given a full account on a service that counts a backup being deleted toward the limit
    # until it is gone (30 s), where each look at the quota takes the function 30 s
    emulator.config.manual_backup_limit = 2
    emulator.config.deleting_counts_toward_limit = True
    emulator.config.delete_seconds = 30
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    old = [add_own_backup(emulator, "chef-a", d) for d in (1, 2)]
    emulator.faults.append(PollTime(emulator, clock, 30, on="quota"))

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the refused CreateBackup waited for the deletion and was made again
    result = results(report)["chef-a"]
    assert result["outcome"] == "STARTED"
    assert [d["backupId"] for d in result["deleted"]] == [old[1]]
    assert result["retain"] == {"asked": 7, "granted": 2}
    assert old[0] in emulator.backend.backups
    creates = emulator.calls_to("CreateBackup")
    assert [c.error for c in creates] == ["LimitExceededException", None]
    assert report["quota"]["usedAfterRun"] == emulator.backend.manual_backups_used() == 2


def test_limit_still_full_after_waiting_fails_that_server(emulator: Emulator, cloud: Cloud) -> None:
    # Given a full account whose deletions stay counted longer than the run can wait
    emulator.config.manual_backup_limit = 2
    emulator.config.deleting_counts_toward_limit = True
    emulator.config.delete_seconds = 10**6
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    old = [add_own_backup(emulator, "chef-a", d) for d in (1, 2)]

    # When the schedule fires with 2.5 s to spare beyond the function's safety margin
    report = lambda_handler(SCHEDULED, FakeLambdaContext(remaining_ms=TIMEOUT_MARGIN_MS + 2_500))

    # Then the server failed, saying why, and kept its newest backup
    result = results(report)["chef-a"]
    assert result["outcome"] == "FAILED"
    assert "still full" in result["reason"]
    assert "after waiting 2 s" in result["reason"]
    assert [d["backupId"] for d in result["deleted"]] == [old[1]]
    assert result["deferredDeletes"] == []
    assert old[0] in emulator.backend.backups
    # One look at the quota while waiting (1 s), none that found room, so no second attempt.
    assert len(emulator.calls_to("CreateBackup")) == 1
    assert len(emulator.calls_to("DescribeAccountAttributes")) == 1 + 1 + 1


def test_close_to_the_timeout_starts_nothing_new(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")

    report = lambda_handler(SCHEDULED, FakeLambdaContext(remaining_ms=5_000))

    assert results(report)["chef-a"]["outcome"] == "FAILED"
    assert "time limit" in results(report)["chef-a"]["reason"]
    assert mutating_calls(emulator) == []


def test_throttling_storm_fails_no_call(emulator: Emulator, cloud: Cloud) -> None:
    emulator.config.server_limit = 12
    names = [f"chef-{i:02d}" for i in range(12)]
    for name in names:
        emulator.backend.add_server(name)
    tag(emulator, *names)
    answered = 0

    def every_other_call_throttled(operation: str, params: dict[str, Any]) -> ServiceError | None:
        nonlocal answered
        answered += 1
        if answered % 2:
            from local.emulator.errors import ThrottlingException

            return ThrottlingException("Rate exceeded")
        return None

    emulator.faults.append(every_other_call_throttled)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert {r["outcome"] for r in report["results"]} == {"STARTED"}
    throttled = [c for c in emulator.calls if c.error == "ThrottlingException"]
    assert len(throttled) >= len(names)
    assert all(c.error in (None, "ThrottlingException") for c in emulator.calls)


@pytest.mark.usefixtures("paced")
def test_twenty_servers_at_the_default_rate_limit_fail_no_call(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.bucket = TokenBucket(rate=5, burst=10)  # the service's documented limit
    emulator.config.server_limit = 20
    for i in range(20):
        emulator.backend.add_server(f"srv-{i:02d}", tags={"opsworks-cm-backup": "enabled"})

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert [r["outcome"] for r in report["results"]] == ["STARTED"] * 20
    assert [c for c in emulator.calls if c.error] == []
    assert len(emulator.calls) == 3 + 20 + 20 + 1


def test_logs_are_json_with_the_run_id_and_metrics_are_emf(
    emulator: Emulator,
    cloud: Cloud,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    log_stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", log_stream)

    lambda_handler(SCHEDULED, FakeLambdaContext())

    logs = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert logs
    assert all(line["service"] == "opsworks-cm-backup" for line in logs)
    assert any(line.get("run_id") == "scheduled-20260105T120000Z" for line in logs)
    [metrics] = emf
    assert metrics["BackupsStarted"] == [1.0] or metrics["BackupsStarted"] == 1.0
    assert metrics["ManualBackupHeadroom"] in (49.0, [49.0])


def test_backup_started_by_an_attempt_that_seemed_to_fail_is_kept(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    first = True

    def lost_response(operation: str, params: dict[str, Any]) -> ServiceError | None:
        nonlocal first
        if operation == "CreateBackup" and first:
            first = False
            with emulator.backend.lock:
                emulator.backend.op_create_backup(params, "caller")
            return InternalFailure("the response was lost")
        return None

    emulator.faults.append(lost_response)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    result = results(report)["chef-a"]
    assert result["outcome"] == "STARTED"
    assert result["backupId"] in emulator.backend.backups
    assert len(emulator.backend.backups) == 1
    assert cloud.tracker_inputs()[0]["backups"][0]["backupId"] == result["backupId"]


def test_large_run_gets_one_tracker_execution_per_forty_backups(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.config.server_limit = 45
    for i in range(45):
        emulator.backend.add_server(f"srv-{i:02d}", tags={"opsworks-cm-backup": "enabled"})

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    names = sorted(e["name"].rsplit("-", 1)[0] for e in cloud.executions())
    assert names == ["scheduled-20260105T120000Z-1", "scheduled-20260105T120000Z-2"]
    assert len(report["trackerExecutionArns"]) == 2
    assert report["trackerExecutionArn"] == report["trackerExecutionArns"][0]
    sizes = sorted(len(batch["backups"]) for batch in cloud.tracker_inputs())
    assert sizes == [5, 40]
