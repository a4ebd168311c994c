"""owcm-backup against the emulator: tables, JSON, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from backup_orchestrator.cli import main
from local.emulator import Emulator, ManualClock
from local.emulator.backend import MUTATING_OPERATIONS
from tests.conftest import add_own_backup

TAG = {"opsworks-cm-backup": "enabled"}


@pytest.fixture
def fleet(emulator: Emulator, clock: ManualClock) -> Emulator:
    backend = emulator.backend
    backend.add_server("chef-prod", tags=TAG)
    backend.add_server(
        "puppet-prod", engine="Puppet", tags={**TAG, "opsworks-cm-backup:retain": "1"}
    )
    backend.add_server("chef-busy", status="UNDER_MAINTENANCE", tags=TAG)
    for days in (1, 2):
        add_own_backup(emulator, "puppet-prod", days)
    backend.add_backup("chef-prod", clock.now() - timedelta(days=3), backup_type="AUTOMATED")
    return emulator


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
    assert [c for c in fleet.calls if c.operation in MUTATING_OPERATIONS] == []


def test_plan_as_json(fleet: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--json", "--servers", "chef-prod"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["dryRun"] is True
    assert [r["outcome"] for r in report["results"]] == ["PLANNED"]


def test_run_wait_follows_backups_and_applies_retention(
    fleet: Emulator, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    def time_passes(operation: str, params: dict[str, object]) -> None:
        if operation == "DescribeBackups":
            clock.advance(fleet.config.backup_seconds)

    fleet.faults.append(time_passes)

    code = main(
        [
            "run",
            "--wait",
            "--poll",
            "0.01",
            "--servers",
            "puppet-prod",
            "--description",
            "pre-upgrade",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    # The first row of the server in the outcome table (the retention table lists it too).
    row = next(line.split() for line in out.splitlines() if line.startswith("puppet-prod "))
    assert row[:2] == ["puppet-prod", "STARTED"]
    assert row[4] == "OK"  # the FINAL column, on the server's own row
    statuses = sorted(
        b.status for b in fleet.backend.backups.values() if b.server_name == "puppet-prod"
    )
    assert statuses == ["DELETING", "DELETING", "OK"]


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
    assert [c for c in fleet.calls if c.operation in MUTATING_OPERATIONS] == []


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


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["plan", "--retain", "0"], "field 'retain'"),
        (["plan", "--servers", "ghost"], "no OpsWorks CM server named 'ghost'"),
        (["plan", "--select-tag", "oops"], "SELECT_TAG='oops'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    fleet: Emulator, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    code = main(argv)

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert expected in err
    assert [c for c in fleet.calls if c.operation in MUTATING_OPERATIONS] == []


def test_unreachable_endpoint_is_one_line_not_a_traceback() -> None:
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "owcm-backup"),
            "status",
            "--endpoint-url",
            "http://127.0.0.1:9",
            "--region",
            "us-east-1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: Could not connect to the endpoint URL")
    assert "Traceback" not in result.stderr
