"""owcm-backup drill against the emulator: a dry run, a drill run here with --wait, and bad input.
(A drill run by the state machine, and `status` showing it, are in tests/infra/test_drill_runs.)"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest

from backup_orchestrator.domain.drill_servers import server_name
from backup_orchestrator.domain.marker import manual_run_id
from local.emulator import Emulator, ManualClock
from local.emulator.backend import MUTATING_OPERATIONS
from local.emulator.faults import PollTime
from owcm_backup.main import main

DRILL_TAG = "opsworks-cm-backup:drill-of"


@pytest.fixture
def chef(emulator: Emulator, clock: ManualClock) -> str:
    """chef-prod with a good backup a day old, restored in three minutes; that backup's id.
    Each poll of a server by name is a minute of the account's life."""
    emulator.faults.append(PollTime(emulator, clock, 60, on="server"))
    emulator.config.restore_seconds = 180
    emulator.config.server_seconds = 60
    emulator.backend.add_server("chef-prod", tags={"opsworks-cm-backup": "enabled"})
    return emulator.backend.add_backup("chef-prod", clock.now() - timedelta(days=1)).backup_id


def changes(emulator: Emulator) -> list[str]:
    return [c.operation for c in emulator.calls if c.operation in MUTATING_OPERATIONS]


def test_a_dry_run_shows_what_would_be_created_and_changes_nothing(
    emulator: Emulator, chef: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["drill", "--servers", "chef-prod", "--dry-run", "--json"])

    [row] = json.loads(capsys.readouterr().out)["drills"]
    assert code == 0
    assert (row["outcome"], row["backupId"], row["backupAgeSeconds"]) == ("PLANNED", chef, 86_400)
    create = row["create"]
    assert (create["ServerName"], create["BackupId"]) == (row["drillServer"], chef)
    assert create["DisableAutomatedBackup"] is True
    assert {t["Key"]: t["Value"] for t in create["Tags"]}[DRILL_TAG] == "chef-prod"
    assert changes(emulator) == []


def test_without_a_state_machine_a_drill_must_be_waited_for(
    emulator: Emulator, chef: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["drill", "--servers", "chef-prod"])

    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --wait: without a drill state machine")
    assert "nothing was created" in err
    assert changes(emulator) == []


def test_without_a_state_machine_it_creates_follows_measures_and_deletes_the_server_itself(
    emulator: Emulator, chef: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["drill", "--servers", "chef-prod", "--wait", "--poll", "0.01", "--json"])

    [row] = json.loads(capsys.readouterr().out)["drills"]
    assert code == 0
    # HEALTHY three minutes after it was created, on the service's clock.
    assert (row["outcome"], row["secondsToHealthy"], row["cleanupConfirmed"]) == ("OK", 180, True)
    assert row["drillServer"] not in emulator.backend.servers
    assert changes(emulator) == ["CreateServer", "DeleteServer"]


def test_a_drill_that_fails_here_exits_1_with_the_servers_reason(
    emulator: Emulator, chef: str, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.config.fail_restores = ("chef-*",)
    emulator.config.server_seconds = 180  # deleting it takes three polls

    code = main(["drill", "--servers", "chef-prod", "--wait", "--poll", "0.01"])

    out = capsys.readouterr().out
    assert code == 1
    assert "chef-prod  FAILED" in out and "The restore from backup" in out
    assert list(emulator.backend.servers) == ["chef-prod"]
    # Asked once: while it is DELETING the command waits, it does not ask again.
    assert len(emulator.calls_to("DeleteServer")) == 1


def test_a_server_that_took_the_drills_name_is_left_alone(
    emulator: Emulator,
    chef: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The run id (and so the drill server's name) is random; fixed here, and somebody's server
    # already has that name: CreateServer is refused, and that server must not be deleted.
    fixed = uuid.UUID(int=7)
    monkeypatch.setattr(uuid, "uuid4", lambda: fixed)
    name = server_name("chef-prod", manual_run_id(fixed.hex))
    emulator.backend.add_server(name)

    code = main(["drill", "--servers", "chef-prod", "--wait", "--poll", "0.01", "--json"])

    [row] = json.loads(capsys.readouterr().out)["drills"]
    assert code == 1
    assert (row["outcome"], row["drillServer"], row["cleanupConfirmed"]) == ("ERROR", name, True)
    assert "ResourceAlreadyExistsException" in row["reason"]
    assert emulator.calls_to("DeleteServer") == []
    assert emulator.backend.servers[name].status == "HEALTHY"


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--servers", "ghost"], "error: --servers: no OpsWorks CM server named 'ghost'"),
        (
            ["--servers", "chef-prod", "--backup-id", "chef-prod-1"],
            "error: --backup-id: 'chef-prod-1' is not a backup of chef-prod",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(
    emulator: Emulator,
    chef: str,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    expected: str,
) -> None:
    code = main(["drill", "--wait", *argv])

    assert code == 2
    assert capsys.readouterr().err.startswith(expected)
    assert changes(emulator) == []
