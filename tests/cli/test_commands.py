"""owcm-backup's commands against the emulator: plan, run, status and delete-orphans, with their
tables, JSON and exit codes. (Bad input, nothing to select, throttling and endpoints are in
test_errors.py.)"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from local.emulator import Emulator, ManualClock
from owcm_backup.main import main
from tests.conftest import add_own_backup
from tests.support.fleet import mutating_calls

if TYPE_CHECKING:
    from types_boto3_cloudwatch.literals import StateValueType


@pytest.fixture
def time_passes(fleet: Emulator, clock: ManualClock) -> None:
    """Each check of the backups finds them a backup's length older."""

    def advance(operation: str, params: dict[str, object]) -> None:
        if operation == "DescribeBackups":
            clock.advance(fleet.config.backup_seconds)

    fleet.faults.append(advance)


def row(out: str, server: str) -> list[str]:
    """The first row of `server` in the outcome table (the retention table lists it too)."""
    return next(line.split() for line in out.splitlines() if line.startswith(f"{server} "))


def test_plan_prints_a_table_and_changes_nothing(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["plan"])

    out = capsys.readouterr().out
    assert code == 0
    assert "(dry run, nothing changed)" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[4:7]}
    assert rows == {"chef-busy": "FAILED", "chef-prod": "PLANNED", "puppet-prod": "PLANNED"}
    assert "after OK  puppet-prod-" in out
    assert "Selected: 3 tagged opsworks-cm-backup=enabled." in out
    assert mutating_calls(fleet) == []


def test_plan_as_json(fleet: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--json", "--servers", "chef-prod"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["dryRun"] is True
    assert [r["outcome"] for r in report["results"]] == ["PLANNED"]


def test_servers_are_trimmed_around_commas_and_named_once(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["plan", "--json", "--servers", "chef-prod, puppet-prod", "--servers", "chef-prod"])

    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert sorted(r["serverName"] for r in report["results"]) == ["chef-prod", "puppet-prod"]


def test_run_wait_follows_backups_applies_retention_and_says_so(
    fleet: Emulator, time_passes: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["run", "--wait", "--poll", "0.01", "--servers", "puppet-prod", "--description", "pre"]
    )

    captured = capsys.readouterr()
    assert code == 0
    [server, outcome, backup_id, _, final, *_] = row(captured.out, "puppet-prod")
    assert (server, outcome, final) == ("puppet-prod", "STARTED", "OK")
    statuses = sorted(
        b.status for b in fleet.backend.backups.values() if b.server_name == "puppet-prod"
    )
    assert statuses == ["DELETING", "DELETING", "OK"]
    # Each deferred deletion is confirmed, not merely announced.
    deferred = [line.split() for line in captured.out.splitlines() if "  after OK  " in line]
    assert deferred and all(cells[4] == "deleted" for cells in deferred)
    # Piped (not a terminal): plain progress lines naming the server, the backup and the time.
    progress = captured.err.splitlines()
    assert progress[0].startswith("following 1 backup, checking every 0.01s")
    assert any(
        line.startswith("[") and f"puppet-prod {backup_id}: OK after " in line for line in progress
    )


def test_run_wait_shows_why_the_service_failed_a_backup_and_exits_1(
    fleet: Emulator, time_passes: None, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet.config.fail_backups = ("puppet-*",)

    code = main(["run", "--wait", "--poll", "0.01", "--servers", "puppet-prod", "--json"])

    captured = capsys.readouterr()
    report = json.loads(captured.out)
    [followed] = report["final"]["backups"]
    assert code == 1
    assert followed["status"] == "FAILED"
    assert "emulator set to fail servers matching 'puppet-*'" in followed["reason"]
    # Retention waits for a good backup: the old ones stay.
    assert {d["done"] for d in followed["deletions"]} == {"kept"}
    assert f"puppet-prod's backup {followed['backupId']} ended FAILED" in captured.err

    main(["run", "--wait", "--poll", "0.01", "--servers", "puppet-prod"])
    why = " ".join(row(capsys.readouterr().out, "puppet-prod")[5:])
    assert why.startswith("backup ended FAILED: The backup failed (emulator set to fail")


def test_run_exits_1_when_a_named_server_is_not_backed_up(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--servers", "chef-prod"]) == 0
    capsys.readouterr()

    # chef-prod's backup from the first run is still in progress: this run starts nothing.
    code = main(["run", "--servers", "chef-prod"])

    assert code == 1
    assert row(capsys.readouterr().out, "chef-prod")[1] == "SKIPPED"
    assert mutating_calls(fleet) == ["CreateBackup"]


def test_run_exits_1_when_the_tracker_did_not_start(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:no-such-tracker"
    with mock_aws():
        code = main(["run", "--servers", "chef-prod", "--tracker-arn", missing])

    captured = capsys.readouterr()
    assert code == 1
    assert "Tracker NOT started" in captured.out
    assert "their deferred deletions will not be applied" in captured.out
    assert "the tracker did not start" in captured.err
    assert mutating_calls(fleet) == ["CreateBackup"]


def test_status_shows_servers_backups_and_quota(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "Manual backups: 2 of 50 used (48 free, account-wide)" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[3:6]}
    # SERVER ENGINE STATE SELECTED RETAIN RPO(2) NEWEST MADE(2) AGE(2) COMPLIANT ...
    assert rows["puppet-prod"][3:7] == ["yes", "1", "29", "h"]
    assert rows["puppet-prod"][8:13] == ["2026-01-04", "12:00", "1d", "0h", "yes"]
    assert "2 OK" in out
    assert rows["chef-prod"][3:6] == ["yes", "7", "29"]
    assert "NO" in rows["chef-prod"]
    assert "chef-prod: no good backup, RPO 29 h" not in out  # the summary is not a reason


def test_status_json_gives_iso_times_and_ages_in_seconds(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json"]) == 0

    body = json.loads(capsys.readouterr().out)
    by_name = {s["serverName"]: s for s in body["servers"]}
    assert body["quota"] == {"used": 2, "maximum": 50}
    puppet = by_name["puppet-prod"]
    assert puppet["newestOkAt"] == "2026-01-04T12:00:00+00:00"
    assert puppet["newestOkAgeSeconds"] == 86_400
    assert (puppet["selected"], puppet["retain"], puppet["rpoHours"]) == (True, 1, 29)
    assert puppet["compliant"] is True
    assert by_name["chef-prod"]["automated"] == {"OK": 1}
    assert (by_name["chef-prod"]["compliant"], by_name["chef-prod"]["newestOkAt"]) == (False, None)
    assert by_name["chef-busy"]["state"] == "UNDER_MAINTENANCE"


def delivery_alarm(name: str, state: StateValueType) -> None:
    """The stack's alarm on undelivered alerts, in moto's CloudWatch, in `state`."""
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Statistic="Maximum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="1 datapoint [2.0]")


@pytest.mark.parametrize(
    ("state", "line"),
    [
        ("ALARM", "Alert delivery: ALARM since "),
        ("OK", "Alert delivery: OK (alarm OpsWorksCMBackup-AlertsUndelivered)"),
    ],
)
def test_status_says_whether_alerts_reach_their_subscribers(
    fleet: Emulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    state: StateValueType,
    line: str,
) -> None:
    # The alarm notifies nobody (the way it would is the way that failed): status shows it.
    monkeypatch.setenv("ALERT_DELIVERY_ALARM", "OpsWorksCMBackup-AlertsUndelivered")
    with mock_aws():
        delivery_alarm("OpsWorksCMBackup-AlertsUndelivered", state)
        assert main(["status"]) == 0
        out = capsys.readouterr().out
        assert main(["status", "--json"]) == 0
        body = json.loads(capsys.readouterr().out)

    [shown] = [text for text in out.splitlines() if text.startswith("Alert delivery: ")]
    assert shown.startswith(line)
    assert ("AlertDeadLettersUrl" in shown) is (state == "ALARM")
    assert body["alertDelivery"]["alarmName"] == "OpsWorksCMBackup-AlertsUndelivered"
    assert (body["alertDelivery"]["state"], body["alertDelivery"]["reason"]) == (
        state,
        "1 datapoint [2.0]",
    )


def test_status_without_the_alarm_says_nothing_of_delivery_or_why_it_could_not(
    fleet: Emulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["alertDelivery"] is None

    monkeypatch.setenv("ALERT_DELIVERY_ALARM", "no-such-alarm")
    with mock_aws():
        assert main(["status"]) == 0
    captured = capsys.readouterr()
    assert "Alert delivery" not in captured.out
    assert "warning: no alarm named no-such-alarm (ALERT_DELIVERY_ALARM" in captured.err


def test_status_check_exits_1_while_a_selected_server_is_out_of_its_rpo(
    fleet: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--check"]) == 1
    assert main(["status", "--check", "--json"]) == 1
    # Only puppet-prod (the one with a retain tag of 1) selected: it is within its RPO.
    assert main(["status", "--check", "--select-tag", "opsworks-cm-backup:retain=1"]) == 0
    # A shorter RPO than its day-old backup: out.
    assert (
        main(
            [
                "status",
                "--check",
                "--select-tag",
                "opsworks-cm-backup:retain=1",
                "--rpo-hours",
                "12",
            ]
        )
        == 1
    )


@pytest.fixture
def deleted_server(fleet: Emulator, clock: ManualClock) -> dict[str, str]:
    """chef-old, deleted, left a backup of the product's and one made by hand."""
    backend = fleet.backend
    backend.add_server("chef-old")
    own = add_own_backup(fleet, "chef-old", 30)
    theirs = backend.add_backup(
        "chef-old", clock.now() - timedelta(days=40), description="by hand"
    ).backup_id
    backend.remove_server("chef-old")
    return {"own": own, "theirs": theirs}


def test_status_lists_backups_of_deleted_servers_apart(
    fleet: Emulator, deleted_server: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Backups of deleted servers") :]
    assert deleted_server["own"] in section and deleted_server["theirs"] in section

    assert main(["status", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    listed = {o["backupId"]: o["own"] for o in body["backupsOfDeletedServers"]}
    assert listed == {deleted_server["own"]: True, deleted_server["theirs"]: False}
    assert "chef-old" not in {s["serverName"] for s in body["servers"]}


def test_delete_orphans_without_confirmation_deletes_nothing(
    fleet: Emulator, deleted_server: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Standard input is not a terminal under pytest: there is nobody to ask.
    code = main(["delete-orphans"])

    assert code == 2
    assert "confirm with --yes" in capsys.readouterr().err
    assert mutating_calls(fleet) == []


def test_delete_orphans_with_yes_deletes_only_the_products_own(
    fleet: Emulator, deleted_server: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["delete-orphans", "--yes", "--json"])

    assert code == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert (entry["backupId"], entry["deleted"]) == (deleted_server["own"], True)
    assert fleet.backend.backups[deleted_server["own"]].status == "DELETING"
    assert fleet.backend.backups[deleted_server["theirs"]].status == "OK"


def test_delete_orphans_can_include_others_backups_when_asked(
    fleet: Emulator, deleted_server: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["delete-orphans", "--yes", "--include-others", "--server", "chef-old"]) == 0

    assert {fleet.backend.backups[b].status for b in deleted_server.values()} == {"DELETING"}
