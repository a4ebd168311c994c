"""The handler end to end: real boto3 clients against the emulator, moto for the rest. Its
contract: the events it takes, the report it returns and logs, one run per slot, and nothing
changed before a bad event or setting is refused."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from backup_orchestrator.contract.events import InvalidRequestError
from backup_orchestrator.contract.settings import SettingsError, get_settings
from backup_orchestrator.handlers import orchestrator as handler
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import Cloud, mutating_calls, tag
from tests.support.invoking import SCHEDULED, results
from tests.support.sizes import largest_fleet, whole_report


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
        "[opsworks-cm-backup run=scheduled-20260105T120000Z tier=monthly] scheduled backup"
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
        k: v for k, v in report.items() if k not in ("results", "compliance", "drills")
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


def test_the_run_line_of_the_largest_fleet_fits_one_log_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given the report of a run of the largest fleet, every part at its fullest
    report = whole_report(largest_fleet()).to_json()
    log_stream = io.StringIO()
    monkeypatch.setattr(handler.logger.registered_handler, "stream", log_stream)

    # When it is logged
    handler._log_report(report)

    # Then its line stays within a CloudWatch Logs event (256 KB): the servers and the drills
    # have lines of their own
    [line] = log_stream.getvalue().splitlines()
    print(f"\nrun report line of {len(report['results'])} servers: {len(line.encode()):,} bytes")
    assert len(line.encode()) < 256_000
    assert json.loads(line)["report"].keys() == report.keys() - {"results", "compliance", "drills"}


def test_same_slot_delivered_twice_backs_up_once(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod")

    first = lambda_handler(SCHEDULED, FakeLambdaContext())
    second = lambda_handler(SCHEDULED, FakeLambdaContext())

    # The second delivery gets the first run's record, the one the idempotency table keeps
    [claim] = cloud.idempotency_records()
    assert second == json.loads(claim["data"]["S"])
    assert second["runId"] == first["runId"]
    assert second["servers"]["STARTED"] == ["chef-prod"]
    assert second["trackerExecutionArns"] == first["trackerExecutionArns"]
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
    monkeypatch.setenv("RETENTION", "daily:100")
    get_settings.cache_clear()

    with pytest.raises(SettingsError, match="RETENTION='daily:100'"):
        lambda_handler(SCHEDULED, FakeLambdaContext())

    assert emulator.calls == []


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


def test_a_run_gets_one_tracker_execution_per_200_backups(emulator: Emulator, cloud: Cloud) -> None:
    emulator.config.server_limit = 205
    emulator.config.manual_backup_limit = 250
    for i in range(205):
        emulator.backend.add_server(f"srv-{i:03d}", tags={"opsworks-cm-backup": "enabled"})

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    names = sorted(e["name"].rsplit("-", 1)[0] for e in cloud.executions())
    assert names == ["scheduled-20260105T120000Z-1", "scheduled-20260105T120000Z-2"]
    assert len(report["trackerExecutionArns"]) == 2
    assert report["trackerExecutionArn"] == report["trackerExecutionArns"][0]
    sizes = sorted(len(batch["backups"]) for batch in cloud.tracker_inputs())
    assert sizes == [5, 200]
