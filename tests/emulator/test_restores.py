"""Conformance: servers created from a backup (the path a restore drill takes), restores that fail
on demand, the server limit, and deleting servers that are still being created or have failed."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from local.emulator import Emulator, ManualClock
from local.emulator.__main__ import build, parse_args
from local.fleet import load, seed
from tests.emulator.test_servers import PROFILE, ROLE, status


def restore(
    opsworkscm: Any, name: str, backup_id: str, engine: str = "ChefAutomate", **extra: Any
) -> dict[str, Any]:
    server: dict[str, Any] = opsworkscm.create_server(
        ServerName=name,
        Engine=engine,
        InstanceProfileArn=PROFILE,
        InstanceType="m5.large",
        ServiceRoleArn=ROLE,
        BackupId=backup_id,
        **extra,
    )["Server"]
    return server


@pytest.fixture
def backup(emulator: Emulator, clock: ManualClock) -> str:
    """An OK manual backup of chef-prod, a day old."""
    emulator.backend.add_server("chef-prod")
    return emulator.backend.add_backup("chef-prod", clock.now() - timedelta(days=1)).backup_id


def test_a_server_created_from_a_backup_is_creating_for_the_restore_time_then_healthy(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any, backup: str
) -> None:
    emulator.config.restore_seconds = 900
    tags = [{"Key": "opsworks-cm-backup:drill-of", "Value": "chef-prod"}]

    server = restore(opsworkscm, "drill-chef-prod-1", backup, Tags=tags)

    assert server["Status"] == "CREATING"
    clock.advance(emulator.config.server_seconds)  # a plain creation would be done by now
    assert status(opsworkscm, "drill-chef-prod-1") == "CREATING"
    clock.advance(900 - emulator.config.server_seconds)
    assert status(opsworkscm, "drill-chef-prod-1") == "HEALTHY"
    arn = server["ServerArn"]
    assert opsworkscm.list_tags_for_resource(ResourceArn=arn)["Tags"] == tags
    events = opsworkscm.describe_events(ServerName="drill-chef-prod-1")["ServerEvents"]
    assert any(f"from backup {backup}" in e["Message"] for e in events)


def test_a_restore_set_to_fail_ends_failed_with_a_reason(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any, backup: str
) -> None:
    emulator.config.fail_restores = ("chef-*",)

    restore(opsworkscm, "drill-chef-prod-1", backup)
    clock.advance(emulator.config.restore_seconds)

    [server] = opsworkscm.describe_servers(ServerName="drill-chef-prod-1")["Servers"]
    assert server["Status"] == "FAILED"
    assert backup in server["StatusReason"] and "'chef-*'" in server["StatusReason"]


def test_only_restores_of_matching_servers_fail(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any, backup: str
) -> None:
    # The glob is matched against the backup's server, not against the new server's name.
    emulator.config.fail_restores = ("drill-*",)

    restore(opsworkscm, "drill-chef-prod-1", backup)
    clock.advance(emulator.config.restore_seconds)

    assert status(opsworkscm, "drill-chef-prod-1") == "HEALTHY"


@pytest.mark.parametrize(
    ("backup_status", "engine", "message"),
    [
        ("FAILED", "ChefAutomate", "only an OK backup can seed a server"),
        ("OK", "Puppet", "cannot seed a Puppet server"),
    ],
)
def test_a_restore_needs_an_ok_backup_of_the_same_engine(
    emulator: Emulator,
    clock: ManualClock,
    opsworkscm: Any,
    backup_status: str,
    engine: str,
    message: str,
) -> None:
    emulator.backend.add_server("chef-prod")
    seeded = emulator.backend.add_backup("chef-prod", clock.now(), status=backup_status)

    with pytest.raises(opsworkscm.exceptions.ValidationException, match=message):
        restore(opsworkscm, "drill-1", seeded.backup_id, engine)

    assert list(emulator.backend.servers) == ["chef-prod"]


def test_a_restore_counts_toward_the_server_limit(
    emulator: Emulator, opsworkscm: Any, backup: str
) -> None:
    emulator.config.server_limit = 2
    restore(opsworkscm, "drill-1", backup)

    with pytest.raises(opsworkscm.exceptions.LimitExceededException, match=r"\(2\)"):
        restore(opsworkscm, "drill-2", backup)

    limit = {a["Name"]: a for a in opsworkscm.describe_account_attributes()["Attributes"]}
    assert limit["ServerLimit"]["Used"] == 2


@pytest.mark.parametrize("when", ["CREATING", "FAILED"])
def test_a_server_being_created_or_failed_can_be_deleted_and_stays_gone(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any, backup: str, when: str
) -> None:
    emulator.config.fail_restores = ("chef-*",) if when == "FAILED" else ()
    restore(opsworkscm, "drill-1", backup)
    if when == "FAILED":
        clock.advance(emulator.config.restore_seconds)
    assert status(opsworkscm, "drill-1") == when

    opsworkscm.delete_server(ServerName="drill-1")

    assert status(opsworkscm, "drill-1") == "DELETING"
    # The restore that was under way does not bring it back.
    clock.advance(max(emulator.config.restore_seconds, emulator.config.server_seconds))
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.describe_servers(ServerName="drill-1")
    assert backup in emulator.backend.backups


def test_restore_time_and_failing_restores_from_the_command_line() -> None:
    args = parse_args(["--restore-seconds", "42", "--fail-restores", "chef-*"])

    config = build(args).config

    assert (config.restore_seconds, config.fail_restores) == (42.0, ("chef-*",))


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    """A fleet whose restores take 30 s and fail for puppet-* servers."""
    path = tmp_path / "fleet.json"
    document = {
        "account": {"restoreSeconds": 30},
        "failRestores": ["puppet-*"],
        "servers": [{"name": "chef-1"}],
    }
    path.write_text(json.dumps(document))
    return path


def test_restore_options_add_to_the_fleet_file_and_win_over_it(fleet_file: Path) -> None:
    path = fleet_file

    config = build(
        parse_args(["--fleet", str(path), "--restore-seconds", "5", "--fail-restores", "chef-*"])
    ).config

    assert (config.restore_seconds, config.fail_restores) == (5.0, ("puppet-*", "chef-*"))
    assert build(parse_args(["--fleet", str(path)])).config.restore_seconds == 30


def test_restore_time_and_failing_restores_from_a_fleet_file(
    emulator: Emulator, fleet_file: Path
) -> None:
    seed(emulator, load(fleet_file))

    assert emulator.config.restore_seconds == 30
    assert emulator.config.fail_restores == ("puppet-*",)
