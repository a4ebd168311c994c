"""Conformance: server lifecycle, passing states, automated backups, events and account limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.emulator import Emulator, ManualClock
from local.emulator.backend import next_window

ROLE = "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-service-role"
PROFILE = "arn:aws:iam::123456789012:instance-profile/aws-opsworks-cm-ec2-role"


def create(opsworkscm: Any, name: str, **extra: Any) -> dict[str, Any]:
    server: dict[str, Any] = opsworkscm.create_server(
        ServerName=name,
        Engine="ChefAutomate",
        InstanceProfileArn=PROFILE,
        InstanceType="m5.large",
        ServiceRoleArn=ROLE,
        **extra,
    )["Server"]
    return server


def status(opsworkscm: Any, name: str) -> str:
    return str(opsworkscm.describe_servers(ServerName=name)["Servers"][0]["Status"])


def test_create_server_passes_through_creating_to_healthy(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    server = create(opsworkscm, "chef-new")

    assert server["Status"] == "CREATING"
    assert server["EngineModel"] == "Single"
    assert server["EngineAttributes"][0]["Name"] == "CHEF_AUTOMATE_ADMIN_PASSWORD"
    assert server["ServerArn"].startswith(
        "arn:aws:opsworks-cm:us-east-1:123456789012:server/chef-new/"
    )
    with pytest.raises(opsworkscm.exceptions.InvalidStateException):
        opsworkscm.create_backup(ServerName="chef-new")
    clock.advance(emulator.config.server_seconds)
    assert status(opsworkscm, "chef-new") == "HEALTHY"


def test_create_server_errors(emulator: Emulator, opsworkscm: Any) -> None:
    emulator.config.server_limit = 1
    create(opsworkscm, "chef-1")

    with pytest.raises(opsworkscm.exceptions.ResourceAlreadyExistsException):
        create(opsworkscm, "chef-1")
    with pytest.raises(opsworkscm.exceptions.LimitExceededException):
        create(opsworkscm, "chef-2")
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        create(opsworkscm, "chef-3", BackupId="chef-0-20250101000000000")
    with pytest.raises(opsworkscm.exceptions.ValidationException, match="preferredBackupWindow"):
        create(opsworkscm, "chef-4", PreferredBackupWindow="25:00")
    assert [s["ServerName"] for s in opsworkscm.describe_servers()["Servers"]] == ["chef-1"]


@pytest.mark.parametrize(
    ("call", "passing", "ends"),
    [
        (lambda c: c.start_maintenance(ServerName="chef-1"), "UNDER_MAINTENANCE", "HEALTHY"),
        (
            lambda c: c.update_server(ServerName="chef-1", BackupRetentionCount=5),
            "MODIFYING",
            "RUNNING",
        ),
    ],
)
def test_operations_pass_through_their_states(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any, call: Any, passing: str, ends: str
) -> None:
    emulator.backend.add_server("chef-1", status="RUNNING")

    assert call(opsworkscm)["Server"]["Status"] == passing
    with pytest.raises(opsworkscm.exceptions.InvalidStateException):
        opsworkscm.create_backup(ServerName="chef-1")
    clock.advance(emulator.config.server_seconds)

    assert status(opsworkscm, "chef-1") == ends


def test_maintenance_refused_outside_running_healthy_unhealthy(
    emulator: Emulator, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1", status="CONNECTION_LOST")

    with pytest.raises(opsworkscm.exceptions.InvalidStateException, match="CONNECTION_LOST"):
        opsworkscm.start_maintenance(ServerName="chef-1")


def test_restore_passes_through_restoring(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1", status="CONNECTION_LOST")
    backup = emulator.backend.add_backup("chef-1", clock.now() - timedelta(days=1))

    server = opsworkscm.restore_server(
        ServerName="chef-1", BackupId=backup.backup_id, InstanceType="m5.xlarge"
    )["Server"]

    assert server["Status"] == "RESTORING"
    assert server["InstanceType"] == "m5.xlarge"
    clock.advance(emulator.config.server_seconds)
    assert status(opsworkscm, "chef-1") == "HEALTHY"


def test_restore_needs_an_ok_backup(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    failed = emulator.backend.add_backup("chef-1", clock.now(), status="FAILED")

    with pytest.raises(opsworkscm.exceptions.InvalidStateException, match="FAILED"):
        opsworkscm.restore_server(ServerName="chef-1", BackupId=failed.backup_id)
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.restore_server(ServerName="chef-1", BackupId="chef-1-20200101000000000")


def test_delete_server_keeps_manual_backups_and_drops_automated(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    manual = emulator.backend.add_backup("chef-1", clock.now() - timedelta(days=2))
    emulator.backend.add_backup("chef-1", clock.now() - timedelta(days=1), backup_type="AUTOMATED")

    opsworkscm.delete_server(ServerName="chef-1")
    assert status(opsworkscm, "chef-1") == "DELETING"
    with pytest.raises(opsworkscm.exceptions.InvalidStateException, match="already"):
        opsworkscm.delete_server(ServerName="chef-1")
    clock.advance(emulator.config.server_seconds)

    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.describe_servers(ServerName="chef-1")
    assert [b["BackupId"] for b in opsworkscm.describe_backups()["Backups"]] == [manual.backup_id]


def test_automated_backups_run_in_the_window_and_keep_the_retention_count(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    start = clock.now()
    emulator.backend.add_server("chef-1", PreferredBackupWindow="03:00", BackupRetentionCount=2)

    clock.advance(days=4)
    backups = opsworkscm.describe_backups(ServerName="chef-1")["Backups"]

    assert [b["BackupType"] for b in backups] == ["AUTOMATED", "AUTOMATED"]
    assert all(b["Status"] == "OK" for b in backups)
    first_window = next_window("03:00", start)
    assert [b["CreatedAt"] for b in backups] == [
        first_window + timedelta(days=3),
        first_window + timedelta(days=2),
    ]
    assert status(opsworkscm, "chef-1") == "HEALTHY"


def test_automated_backups_stop_when_disabled(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server(
        "chef-1", PreferredBackupWindow="Wed:03:00", DisableAutomatedBackup=True
    )

    clock.advance(days=8)

    assert opsworkscm.describe_backups(ServerName="chef-1")["Backups"] == []


def test_next_window_daily_and_weekly() -> None:
    monday_noon = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    assert next_window("13:30", monday_noon) == datetime(2026, 1, 5, 13, 30, tzinfo=UTC)
    assert next_window("11:00", monday_noon) == datetime(2026, 1, 6, 11, 0, tzinfo=UTC)
    assert next_window("Mon:12:00", monday_noon) == datetime(2026, 1, 12, 12, 0, tzinfo=UTC)
    assert next_window("Sun:01:15", monday_noon) == datetime(2026, 1, 11, 1, 15, tzinfo=UTC)


def test_events_newest_first_with_pagination(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    opsworkscm.create_backup(ServerName="chef-1")
    clock.advance(emulator.config.backup_seconds)

    pages = list(
        opsworkscm.get_paginator("describe_events").paginate(
            ServerName="chef-1", PaginationConfig={"PageSize": 1}
        )
    )
    messages = [e["Message"] for page in pages for e in page["ServerEvents"]]

    assert len(pages) == 2
    assert "finished: OK" in messages[0]
    assert "started" in messages[1]
    with pytest.raises(opsworkscm.exceptions.InvalidNextTokenException):
        opsworkscm.describe_events(ServerName="chef-1", NextToken="not-a-token")
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.describe_events(ServerName="ghost")


def test_account_attributes_report_both_limits(emulator: Emulator, opsworkscm: Any) -> None:
    emulator.backend.add_server("chef-1")
    emulator.backend.add_server("chef-2")

    attributes = {a["Name"]: a for a in opsworkscm.describe_account_attributes()["Attributes"]}

    assert attributes["ServerLimit"] == {"Name": "ServerLimit", "Maximum": 10, "Used": 2}
    assert attributes["ManualBackupLimit"] == {
        "Name": "ManualBackupLimit",
        "Maximum": 50,
        "Used": 0,
    }
