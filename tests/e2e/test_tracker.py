"""The synthesized tracker definition, run in moto's Step Functions interpreter against the
emulator, and the whole chain: schedule event -> orchestrator -> tracker -> final state."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.domain.tracking import Batch, execution_input
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.cloud import LocalCloud
from local.emulator import Emulator, ManualClock
from local.emulator.errors import AccessDeniedException, ServiceError, ValidationException
from local.emulator.faults import DeniedAsNotFound
from local.runtime import wait_for_execution
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.e2e.conftest import Setup

CLOUD = Setup(machines=("Tracker",))


def run_tracker(
    cloud: LocalCloud, backups: list[dict[str, Any]], deadline: int = 3600
) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions")
    payload = execution_input(
        "run-1", "run-1-1", Batch(backups), poll_seconds=1, deadline_seconds=deadline
    )
    execution = sfn.start_execution(stateMachineArn=cloud.tracker_arn, input=json.dumps(payload))
    return wait_for_execution(sfn, execution["executionArn"])


def metric_names(capsys: pytest.CaptureFixture[str]) -> set[str]:
    """The metrics the tracker's function published (EMF documents in its log)."""
    documents = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line
    ]
    return {
        metric["Name"]
        for document in documents
        if document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OpsWorksCMBackup"
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }


def test_ok_backup_gets_its_deferred_deletions_and_succeeds(
    emulator: Emulator, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
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
    assert {"BackupsSucceeded", "BackupDuration"} <= metric_names(capsys)


def test_a_refused_retention_delete_leaves_the_backup_a_success_and_the_rest_deleted(
    emulator: Emulator, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
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
        f"deleted, first {kept} (ValidationException: The backup is locked by a legal "
        "hold"
    ) in alert["message"]
    metrics = metric_names(capsys)
    assert {"BackupsSucceeded", "RetentionDeleteFailures"} <= metrics
    assert "BackupsFailed" not in metrics


def test_failed_backup_alerts_fails_and_keeps_old_backups(
    emulator: Emulator, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
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
    assert "BackupsFailed" in metric_names(capsys)


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
    # In the order the backups ended (chef-gone at the first poll, the others at the second),
    # the run's order within a poll.
    assert lines[1] == (
        f"chef-gone: backup {gone} no longer exists (it, or its server, was deleted). Its old "
        "backups were kept. To do: check the server (aws opsworkscm describe-servers "
        "--server-name chef-gone) and back it up again if it is still there."
    )
    assert lines[2] == f"chef-ok: backup {new['chef-ok']} is OK."
    retention = lines[3]
    assert retention.startswith(
        f"chef-locked: backup {new['chef-locked']} is OK, but 1 of the old backups it replaces "
        f"could not be deleted, first {locked} (ValidationException: The backup is "
        "locked by a legal hold"
    )
    assert retention.endswith(
        "They stay and count toward the manual-backup limit of the account. To do: nothing, the "
        "next run tries again; or delete them by hand (aws opsworkscm delete-backup --backup-id "
        "ID)."
    )
    assert lines[4] == (
        f'puppet-bad: backup {new["puppet-bad"]} ended FAILED (OpsWorks CM: "The backup '
        "failed (emulator set to fail servers matching 'puppet-*').\"). Its old backups were kept. "
        "To do: read the server events (aws opsworkscm describe-events --server-name "
        "puppet-bad), fix the cause, then back it up again (owcm-backup run --servers "
        "puppet-bad, or invoke the function with the server named in servers)."
    )
    assert lines[5].startswith("Each backup that needs attention says what to do.")
    assert lines[5].endswith(f"Tracker execution: {result['executionArn']}")
    assert len(lines) == 6
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


def test_a_backup_deleted_by_a_person_while_followed_fails_and_keeps_the_old_ones(
    emulator: Emulator, cloud: LocalCloud, clock: ManualClock
) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    new = emulator.backend.op_create_backup({"ServerName": "chef-a"}, "caller")["Backup"][
        "BackupId"
    ]
    # It ends OK, and someone deletes it before the tracker's first look at the account (the
    # deletion takes long: the tracker sees it DELETING).
    emulator.config.delete_seconds = 10**6
    clock.advance(600)
    emulator.backend.op_delete_backup({"BackupId": new}, "someone")

    result = run_tracker(
        cloud, [{"serverName": "chef-a", "backupId": new, "deferredDeletes": [old]}]
    )

    assert result["status"] == "FAILED"
    [alert] = cloud.alerts()
    assert f"chef-a: backup {new} ended DELETING" in alert["message"]
    assert emulator.backend.backups[old].status == "OK"


def test_an_account_that_cannot_be_read_ends_the_run_with_an_alert_and_keeps_backups(
    emulator: Emulator, cloud: LocalCloud
) -> None:
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    new = emulator.backend.op_create_backup({"ServerName": "chef-a"}, "caller")["Backup"][
        "BackupId"
    ]

    def deny(operation: str, params: dict[str, Any]) -> ServiceError | None:
        return AccessDeniedException("not allowed") if operation == "DescribeBackups" else None

    emulator.faults.append(deny)

    result = run_tracker(
        cloud, [{"serverName": "chef-a", "backupId": new, "deferredDeletes": [old]}]
    )

    # Never a stuck execution: it ends, says why, names what was not followed, keeps backups.
    assert result["status"] == "FAILED"
    [alert] = cloud.alerts()
    assert alert["subject"] == "OpsWorks CM backup needs attention"
    assert alert["message"].startswith(
        "OpsWorks CM backup run run-1 could not be followed to the end: the tracker could not "
        "read the account (ServiceError: "
    )
    # The cause as Lambda gives it (the function's error, which names the service's answer).
    assert "AccessDeniedException: not allowed" in alert["message"]
    assert f'["{new}"]' in alert["message"]
    assert alert["message"].endswith(f"Tracker execution: {result['executionArn']}")
    assert emulator.backend.backups[old].status == "OK"
    assert [c.operation for c in emulator.calls if c.operation == "DeleteBackup"] == []


def test_a_deferred_deletion_denied_as_not_found_is_a_retention_problem_not_gone(
    emulator: Emulator, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # A policy denies DeleteBackup on the old backup, and the service answers "not found"
    # (safety rule 16): the listing still shows it, so it is a refused deletion, alarmed.
    emulator.backend.add_server("chef-a")
    old = add_own_backup(emulator, "chef-a", 2)
    new = emulator.backend.op_create_backup({"ServerName": "chef-a"}, "caller")["Backup"][
        "BackupId"
    ]
    emulator.faults.append(DeniedAsNotFound(emulator, ["DeleteBackup"], [old]))

    result = run_tracker(
        cloud, [{"serverName": "chef-a", "backupId": new, "deferredDeletes": [old]}]
    )

    assert result["status"] == "SUCCEEDED"
    [outcome] = json.loads(result["output"])["results"]
    assert (outcome["outcome"], outcome["retentionProblem"]) == ("OK", True)
    [alert] = cloud.alerts()
    assert (
        f"first {old} (AccessDenied: OpsWorks CM answered ResourceNotFoundException to DeleteBackup"
        in (alert["message"])
    )
    assert "access may be denied" in alert["message"]
    assert emulator.backend.backups[old].status == "OK"
    assert {"RetentionDeleteFailures", "AccessDeniedAnswers"} <= metric_names(capsys)
