"""The synthesized tracker definition, run in moto's Step Functions interpreter against the
emulator, and the whole chain: schedule event -> orchestrator -> tracker -> final state."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.cloud import LocalCloud
from local.emulator import Emulator
from local.emulator.errors import ServiceError, ValidationException
from local.runtime import wait_for_execution
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.e2e.conftest import Setup

CLOUD = Setup(machines=("Tracker",))


def run_tracker(
    cloud: LocalCloud, backups: list[dict[str, Any]], deadline: int = 3600
) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    payload = {"runId": "run-1", "pollSeconds": 1, "deadlineSeconds": deadline, "backups": backups}
    execution = sfn.start_execution(stateMachineArn=cloud.tracker_arn, input=json.dumps(payload))
    return wait_for_execution(sfn, execution["executionArn"])


def metric_names() -> set[str]:
    listed = boto3.client("cloudwatch").list_metrics(Namespace="OpsWorksCMBackup")["Metrics"]
    return {m["MetricName"] for m in listed}


def test_ok_backup_gets_its_deferred_deletions_and_succeeds(
    emulator: Emulator, cloud: LocalCloud
) -> None:
    emulator.backend.add_server("chef-a")
    older = [add_own_backup(emulator, "chef-a", d) for d in (2, 3)]
    new = emulator.backend.op_create_backup({"ServerName": "chef-a"}, "caller")["Backup"][
        "BackupId"
    ]

    result = run_tracker(
        cloud, [{"serverName": "chef-a", "backupId": new, "deferredDeletes": older}]
    )

    assert result["status"] == "SUCCEEDED", result
    output = json.loads(result["output"])
    assert [r["outcome"] for r in output["results"]] == ["OK"]
    assert {emulator.backend.backups[b].status for b in older} == {"DELETING"}
    assert emulator.backend.backups[new].status == "OK"
    assert cloud.alerts() == []
    assert {"BackupsSucceeded", "BackupDuration"} <= metric_names()


def test_a_refused_retention_delete_leaves_the_backup_a_success_and_the_rest_deleted(
    emulator: Emulator, cloud: LocalCloud
) -> None:
    emulator.backend.add_server("chef-a")
    kept, deleted = (add_own_backup(emulator, "chef-a", d) for d in (3, 2))
    new = emulator.backend.op_create_backup({"ServerName": "chef-a"}, "caller")["Backup"][
        "BackupId"
    ]

    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DeleteBackup" and params.get("BackupId") == kept:
            return ValidationException("The backup is locked by a legal hold")
        return None

    emulator.faults.append(refuse)
    # The refused deletion comes first: the one after it must still run.
    result = run_tracker(
        cloud, [{"serverName": "chef-a", "backupId": new, "deferredDeletes": [kept, deleted]}]
    )

    assert result["status"] == "SUCCEEDED", result
    [outcome] = json.loads(result["output"])["results"]
    assert (outcome["outcome"], outcome["ok"], outcome["retentionProblem"]) == ("OK", True, True)
    assert emulator.backend.backups[kept].status == "OK"
    assert emulator.backend.backups[deleted].status == "DELETING"
    [alert] = cloud.alerts()
    assert (
        f"chef-a: backup {new} is OK, but 1 of the old backups it replaces could not be "
        f"deleted, first {kept} (OpsWorksCm.ValidationException: The backup is locked by a legal "
        "hold"
    ) in alert["message"]
    metrics = metric_names()
    assert {"BackupsSucceeded", "RetentionDeleteFailures"} <= metrics
    assert "BackupsFailed" not in metrics


def test_failed_backup_alerts_fails_and_keeps_old_backups(
    emulator: Emulator, cloud: LocalCloud
) -> None:
    emulator.config.fail_backups = ("puppet-*",)
    emulator.backend.add_server("chef-a")
    emulator.backend.add_server("puppet-a", engine="Puppet")
    older = add_own_backup(emulator, "puppet-a", 2)
    good = emulator.backend.op_create_backup({"ServerName": "chef-a"}, "caller")["Backup"][
        "BackupId"
    ]
    bad = emulator.backend.op_create_backup({"ServerName": "puppet-a"}, "caller")["Backup"][
        "BackupId"
    ]

    result = run_tracker(
        cloud,
        [
            {"serverName": "chef-a", "backupId": good, "deferredDeletes": []},
            {"serverName": "puppet-a", "backupId": bad, "deferredDeletes": [older]},
        ],
    )

    assert result["status"] == "FAILED"
    assert result["error"] == "BackupsNeedAttention"
    [alert] = cloud.alerts()
    assert alert["subject"] == "OpsWorks CM backup needs attention"
    assert f"puppet-a: backup {bad} ended FAILED" in alert["message"]
    assert "run-1" in alert["message"]
    assert "describe-events" in alert["message"]
    assert emulator.backend.backups[older].status == "OK"
    assert "BackupsFailed" in metric_names()


def test_the_alert_is_written_for_a_person(emulator: Emulator, cloud: LocalCloud) -> None:
    # Given one execution following a backup that ends OK, one whose old backup cannot be
    # deleted, one the service fails and one that vanishes
    emulator.config.fail_backups = ("puppet-*",)
    for name in ("chef-ok", "chef-locked", "puppet-bad"):
        emulator.backend.add_server(
            name, engine="Puppet" if name.startswith("puppet") else "ChefAutomate"
        )
    locked = add_own_backup(emulator, "chef-locked", 2)
    kept = add_own_backup(emulator, "puppet-bad", 2)
    new = {
        name: emulator.backend.op_create_backup({"ServerName": name}, "caller")["Backup"][
            "BackupId"
        ]
        for name in ("chef-ok", "chef-locked", "puppet-bad")
    }
    gone = "chef-gone-20200101000000000"

    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DeleteBackup" and params.get("BackupId") == locked:
            return ValidationException("The backup is locked by a legal hold")
        return None

    emulator.faults.append(refuse)

    # When the tracker follows them to the end
    result = run_tracker(
        cloud,
        [
            {"serverName": "chef-ok", "backupId": new["chef-ok"], "deferredDeletes": []},
            {
                "serverName": "chef-locked",
                "backupId": new["chef-locked"],
                "deferredDeletes": [locked],
            },
            {"serverName": "puppet-bad", "backupId": new["puppet-bad"], "deferredDeletes": [kept]},
            {"serverName": "chef-gone", "backupId": gone, "deferredDeletes": []},
        ],
    )

    # Then one alert says, one line per backup, what happened, the service's reason and what
    # to do; no JSON
    assert result["status"] == "FAILED"
    [alert] = cloud.alerts()
    lines = [line.strip() for line in alert["message"].splitlines() if line.strip()]
    assert lines[0] == "OpsWorks CM backup run run-1 needs attention."
    retention = lines.pop(2)
    assert retention.startswith(
        f"chef-locked: backup {new['chef-locked']} is OK, but 1 of the old backups it replaces "
        f"could not be deleted, first {locked} (OpsWorksCm.ValidationException: The backup is "
        "locked by a legal hold"
    )
    assert retention.endswith(
        "They stay and count toward the manual-backup limit of the account. To do: nothing, the "
        "next run tries again; or delete them by hand (aws opsworkscm delete-backup --backup-id "
        "ID)."
    )
    assert lines[1:4] == [
        f"chef-ok: backup {new['chef-ok']} is OK.",
        f'puppet-bad: backup {new["puppet-bad"]} ended FAILED (OpsWorks CM: "The backup '
        "failed (emulator set to fail servers matching 'puppet-*').\"). Its old backups were kept. "
        "To do: read the server events (aws opsworkscm describe-events --server-name "
        "puppet-bad), fix the cause, then back it up again (owcm-backup run --servers "
        "puppet-bad, or invoke the function with the server named in servers).",
        f"chef-gone: backup {gone} no longer exists (it, or its server, was deleted). Its old "
        "backups were kept. To do: check the server (aws opsworkscm describe-servers "
        "--server-name chef-gone) and back it up again if it is still there.",
    ]
    assert lines[4].startswith("Each backup that needs attention says what to do.")
    assert lines[4].endswith(f"Tracker execution: {result['executionArn']}")
    assert len(lines) == 5
    assert "[" not in alert["message"] and "{" not in alert["message"]
    assert emulator.backend.backups[kept].status == "OK"


def test_backup_that_never_finishes_hits_the_deadline(
    emulator: Emulator, cloud: LocalCloud
) -> None:
    emulator.config.backup_seconds = 10**6
    emulator.backend.add_server("chef-a")
    stuck = emulator.backend.op_create_backup({"ServerName": "chef-a"}, "caller")["Backup"][
        "BackupId"
    ]

    result = run_tracker(
        cloud, [{"serverName": "chef-a", "backupId": stuck, "deferredDeletes": []}], deadline=3
    )

    assert result["status"] == "FAILED"
    [alert] = cloud.alerts()
    assert f"chef-a: backup {stuck} was still IN_PROGRESS after 3 seconds" in alert["message"]


def test_backup_that_vanishes_is_a_failure(emulator: Emulator, cloud: LocalCloud) -> None:
    emulator.backend.add_server("chef-a")

    result = run_tracker(
        cloud,
        [{"serverName": "chef-a", "backupId": "chef-a-20200101000000000", "deferredDeletes": []}],
    )

    assert result["status"] == "FAILED"
    assert "no longer exists" in cloud.alerts()[0]["message"]


def test_schedule_event_to_final_state(
    emulator: Emulator, cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in cloud.function_environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("POLL_SECONDS", "1")
    monkeypatch.setenv("DEADLINE_SECONDS", "60")
    get_settings.cache_clear()
    emulator.config.manual_backup_limit = 4
    emulator.backend.add_server(
        "chef-a", tags={"opsworks-cm-backup": "enabled", "opsworks-cm-backup:retain": "2"}
    )
    emulator.backend.add_server("puppet-a", engine="Puppet", tags={"opsworks-cm-backup": "enabled"})
    emulator.backend.add_server("chef-untagged")
    chef_old = [add_own_backup(emulator, "chef-a", d) for d in (1, 2, 3)]
    foreign = emulator.backend.add_backup(
        "puppet-a", emulator.backend.clock.now() - timedelta(days=9)
    ).backup_id

    report = lambda_handler(
        {"source": "schedule", "scheduledTime": "2026-01-05T02:00:00Z"}, FakeLambdaContext()
    )
    result = wait_for_execution(boto3.client("stepfunctions"), report["trackerExecutionArn"])
    get_settings.cache_clear()

    assert result["status"] == "SUCCEEDED", result
    outcomes = {r["serverName"]: r["outcome"] for r in report["results"]}
    assert outcomes == {"chef-a": "STARTED", "puppet-a": "STARTED"}
    manual = {
        b.backup_id: b.status
        for b in emulator.backend.backups.values()
        if b.backup_type == "MANUAL"
    }
    new = {r["backupId"] for r in report["results"]}
    # The account was full: chef-a's two oldest went first to make room; it keeps two.
    assert {b: manual[b] for b in new} == dict.fromkeys(new, "OK")
    assert manual[chef_old[0]] == "OK"
    assert manual.get(chef_old[1]) in (None, "DELETING")
    assert manual.get(chef_old[2]) in (None, "DELETING")
    assert manual[foreign] == "OK"  # not ours: never touched
    assert cloud.alerts() == []
