"""Conformance: CreateBackup, DeleteBackup and DescribeBackups as the reference describes them."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from local.emulator import Emulator, ManualClock
from local.emulator.backend import SERVER_STATUSES

# Every field of the reference's CreateBackup response syntax.
REFERENCE_BACKUP_FIELDS = {
    "BackupArn",
    "BackupId",
    "BackupType",
    "CreatedAt",
    "Description",
    "Engine",
    "EngineModel",
    "EngineVersion",
    "InstanceProfileArn",
    "InstanceType",
    "KeyPair",
    "PreferredBackupWindow",
    "PreferredMaintenanceWindow",
    "S3DataSize",
    "S3DataUrl",
    "S3LogUrl",
    "SecurityGroupIds",
    "ServerName",
    "ServiceRoleArn",
    "Status",
    "StatusDescription",
    "SubnetIds",
    "ToolsVersion",
    "UserArn",
}
COPIED_FROM_SERVER = (
    "Engine",
    "EngineModel",
    "EngineVersion",
    "InstanceProfileArn",
    "InstanceType",
    "KeyPair",
    "PreferredBackupWindow",
    "PreferredMaintenanceWindow",
    "SecurityGroupIds",
    "ServiceRoleArn",
    "SubnetIds",
)
ALLOWED = ("RUNNING", "HEALTHY", "UNHEALTHY")
REFUSED = sorted(set(SERVER_STATUSES) - set(ALLOWED))


def error_code(excinfo: pytest.ExceptionInfo[Any]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


@pytest.mark.parametrize("status", ALLOWED)
def test_backup_allowed_in_running_healthy_unhealthy(
    emulator: Emulator, opsworkscm: Any, status: str
) -> None:
    emulator.backend.add_server("chef-1", status=status)

    backup = opsworkscm.create_backup(ServerName="chef-1")["Backup"]

    assert backup["Status"] == "IN_PROGRESS"
    assert opsworkscm.describe_servers(ServerName="chef-1")["Servers"][0]["Status"] == "BACKING_UP"


@pytest.mark.parametrize("status", REFUSED)
def test_backup_refused_in_every_other_state(
    emulator: Emulator, opsworkscm: Any, status: str
) -> None:
    emulator.backend.add_server("chef-1", status=status)

    with pytest.raises(opsworkscm.exceptions.InvalidStateException) as excinfo:
        opsworkscm.create_backup(ServerName="chef-1")

    assert status in str(excinfo.value)
    assert opsworkscm.describe_backups()["Backups"] == []


def test_second_backup_refused_while_backing_up(emulator: Emulator, opsworkscm: Any) -> None:
    emulator.backend.add_server("chef-1")
    opsworkscm.create_backup(ServerName="chef-1")

    with pytest.raises(opsworkscm.exceptions.InvalidStateException, match="BACKING_UP"):
        opsworkscm.create_backup(ServerName="chef-1")


def test_server_cannot_be_changed_while_backing_up(emulator: Emulator, opsworkscm: Any) -> None:
    emulator.backend.add_server("chef-1")
    opsworkscm.create_backup(ServerName="chef-1")

    with pytest.raises(opsworkscm.exceptions.InvalidStateException):
        opsworkscm.update_server(ServerName="chef-1", BackupRetentionCount=3)
    with pytest.raises(opsworkscm.exceptions.InvalidStateException):
        opsworkscm.delete_server(ServerName="chef-1")
    with pytest.raises(opsworkscm.exceptions.InvalidStateException):
        opsworkscm.start_maintenance(ServerName="chef-1")


def test_backup_is_asynchronous_and_ends_ok(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1", status="UNHEALTHY")
    backup_id = opsworkscm.create_backup(ServerName="chef-1")["Backup"]["BackupId"]

    clock.advance(emulator.config.backup_seconds - 1)
    assert opsworkscm.describe_backups(BackupId=backup_id)["Backups"][0]["Status"] == "IN_PROGRESS"
    clock.advance(1)

    assert opsworkscm.describe_backups(BackupId=backup_id)["Backups"][0]["Status"] == "OK"
    # The server returns to the state it was in before the backup.
    assert opsworkscm.describe_servers(ServerName="chef-1")["Servers"][0]["Status"] == "UNHEALTHY"


def test_backup_of_failing_server_ends_failed(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.config.fail_backups = ("puppet-*",)
    emulator.backend.add_server("puppet-1", engine="Puppet")
    backup_id = opsworkscm.create_backup(ServerName="puppet-1")["Backup"]["BackupId"]

    clock.advance(emulator.config.backup_seconds)

    backup = opsworkscm.describe_backups(BackupId=backup_id)["Backups"][0]
    assert backup["Status"] == "FAILED"
    assert "failed" in backup["StatusDescription"].lower()


def test_backup_carries_every_reference_field_copied_from_its_server(
    emulator: Emulator, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1", KeyPair="ops-key", InstanceType="r5.xlarge")
    server = opsworkscm.describe_servers(ServerName="chef-1")["Servers"][0]

    backup = opsworkscm.create_backup(ServerName="chef-1", Description="nightly")["Backup"]

    assert set(backup) == REFERENCE_BACKUP_FIELDS
    for name in COPIED_FROM_SERVER:
        assert backup[name] == server[name], name
    assert backup["BackupType"] == "MANUAL"
    assert backup["Description"] == "nightly"
    assert backup["UserArn"].endswith(":user/testing")
    assert backup["BackupArn"].endswith(f":backup/{backup['BackupId']}")


def test_backup_id_is_server_name_and_creation_time_to_the_millisecond(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-prod-2")
    clock.advance(0.123)

    backup = opsworkscm.create_backup(ServerName="chef-prod-2")["Backup"]

    assert re.fullmatch(r"chef-prod-2-\d{17}", backup["BackupId"])
    assert (
        backup["BackupId"] == "chef-prod-2-" + backup["CreatedAt"].strftime("%Y%m%d%H%M%S%f")[:-3]
    )
    assert backup["BackupId"].endswith("123")


def test_unknown_server_is_resource_not_found(opsworkscm: Any) -> None:
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException, match="nope"):
        opsworkscm.create_backup(ServerName="nope")


def test_invalid_parameters_are_validation_exception(emulator: Emulator, opsworkscm: Any) -> None:
    emulator.backend.add_server("chef-1")

    with pytest.raises(opsworkscm.exceptions.ValidationException, match="serverName"):
        opsworkscm.create_backup(ServerName="1-starts-with-a-digit")
    with pytest.raises(opsworkscm.exceptions.ValidationException, match="description"):
        opsworkscm.create_backup(ServerName="chef-1", Description="x" * 10_001)


def test_limit_is_account_wide_then_freed_by_delete(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.config.manual_backup_limit = 2
    for name in ("chef-1", "chef-2", "chef-3"):
        emulator.backend.add_server(name)
    first = opsworkscm.create_backup(ServerName="chef-1")["Backup"]["BackupId"]
    opsworkscm.create_backup(ServerName="chef-2")
    clock.advance(emulator.config.backup_seconds)

    with pytest.raises(opsworkscm.exceptions.LimitExceededException) as excinfo:
        opsworkscm.create_backup(ServerName="chef-3")
    assert "2" in str(excinfo.value)
    assert manual_quota(opsworkscm) == {"Maximum": 2, "Used": 2}

    opsworkscm.delete_backup(BackupId=first)
    assert manual_quota(opsworkscm) == {"Maximum": 2, "Used": 1}
    assert opsworkscm.create_backup(ServerName="chef-3")["Backup"]["Status"] == "IN_PROGRESS"


def test_a_backup_being_deleted_can_count_until_it_is_gone(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    # The reference leaves open whether DELETING counts; the emulator can play that reading.
    emulator.config.manual_backup_limit = 1
    emulator.config.deleting_counts_toward_limit = True
    emulator.backend.add_server("chef-1")
    old = emulator.backend.add_backup("chef-1", clock.now() - timedelta(days=1)).backup_id

    opsworkscm.delete_backup(BackupId=old)

    assert manual_quota(opsworkscm) == {"Maximum": 1, "Used": 1}
    with pytest.raises(opsworkscm.exceptions.LimitExceededException):
        opsworkscm.create_backup(ServerName="chef-1")
    clock.advance(emulator.config.delete_seconds)
    assert manual_quota(opsworkscm) == {"Maximum": 1, "Used": 0}
    assert opsworkscm.create_backup(ServerName="chef-1")["Backup"]["Status"] == "IN_PROGRESS"


def test_automated_backups_do_not_count_toward_the_manual_limit(
    emulator: Emulator, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    emulator.backend.add_backup(
        "chef-1", emulator.backend.clock.now() - timedelta(days=1), backup_type="AUTOMATED"
    )

    assert manual_quota(opsworkscm) == {"Maximum": 50, "Used": 0}


def manual_quota(opsworkscm: Any) -> dict[str, int]:
    attributes = opsworkscm.describe_account_attributes()["Attributes"]
    found = next(a for a in attributes if a["Name"] == "ManualBackupLimit")
    return {"Maximum": found["Maximum"], "Used": found["Used"]}


def test_delete_backup_is_asynchronous(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    backup = emulator.backend.add_backup("chef-1", clock.now() - timedelta(hours=1))

    opsworkscm.delete_backup(BackupId=backup.backup_id)
    assert (
        opsworkscm.describe_backups(BackupId=backup.backup_id)["Backups"][0]["Status"] == "DELETING"
    )
    with pytest.raises(opsworkscm.exceptions.InvalidStateException, match="already"):
        opsworkscm.delete_backup(BackupId=backup.backup_id)
    clock.advance(emulator.config.delete_seconds)

    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.describe_backups(BackupId=backup.backup_id)


def test_in_progress_backup_cannot_be_deleted(emulator: Emulator, opsworkscm: Any) -> None:
    emulator.backend.add_server("chef-1")
    backup_id = opsworkscm.create_backup(ServerName="chef-1")["Backup"]["BackupId"]

    with pytest.raises(opsworkscm.exceptions.InvalidStateException, match="IN_PROGRESS"):
        opsworkscm.delete_backup(BackupId=backup_id)


def test_delete_unknown_backup_is_resource_not_found(opsworkscm: Any) -> None:
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.delete_backup(BackupId="chef-1-20260101000000000")


def test_automated_backup_can_be_deleted(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    backup = emulator.backend.add_backup(
        "chef-1", clock.now() - timedelta(hours=1), backup_type="AUTOMATED"
    )

    opsworkscm.delete_backup(BackupId=backup.backup_id)

    assert (
        opsworkscm.describe_backups(BackupId=backup.backup_id)["Backups"][0]["Status"] == "DELETING"
    )


def test_describe_backups_newest_first_and_filterable(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    backend = emulator.backend
    backend.add_server("chef-1")
    backend.add_server("puppet-1", engine="Puppet")
    now = clock.now()
    created = [
        backend.add_backup("chef-1", now - timedelta(days=3)),
        backend.add_backup("puppet-1", now - timedelta(days=1), backup_type="AUTOMATED"),
        backend.add_backup("chef-1", now - timedelta(days=2), status="FAILED"),
    ]

    everything = [b["BackupId"] for b in opsworkscm.describe_backups()["Backups"]]
    chef = [b["BackupId"] for b in opsworkscm.describe_backups(ServerName="chef-1")["Backups"]]
    one = opsworkscm.describe_backups(BackupId=created[0].backup_id)["Backups"]

    assert everything == [created[1].backup_id, created[2].backup_id, created[0].backup_id]
    assert chef == [created[2].backup_id, created[0].backup_id]
    assert [b["BackupId"] for b in one] == [created[0].backup_id]
    assert "NextToken" not in opsworkscm.describe_backups(MaxResults=1)


def test_describe_backups_of_unknown_server_or_backup(opsworkscm: Any) -> None:
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.describe_backups(ServerName="ghost")
    with pytest.raises(opsworkscm.exceptions.ResourceNotFoundException):
        opsworkscm.describe_backups(BackupId="ghost-20260101000000000")


def test_automated_backup_has_empty_description_and_user(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    emulator.backend.add_server("chef-1")
    backup = emulator.backend.add_backup(
        "chef-1", clock.now(), backup_type="AUTOMATED", description="ignored"
    )

    described = opsworkscm.describe_backups(BackupId=backup.backup_id)["Backups"][0]

    assert described["BackupType"] == "AUTOMATED"
    assert described["Description"] == ""
    assert described["UserArn"] == ""
