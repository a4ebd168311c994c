"""The emulated account's records: its configuration, servers and backups, and backup windows.

Plain data; the operations that change them are in account.py, backups.py and servers.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backup_orchestrator.domain.records import SERVER_STATES

SERVER_STATUSES = SERVER_STATES
BACKUP_ALLOWED = frozenset({"RUNNING", "HEALTHY", "UNHEALTHY"})
MAINTENANCE_ALLOWED = BACKUP_ALLOWED
RESTORE_ALLOWED = frozenset({"CONNECTION_LOST", "HEALTHY", "RUNNING", "UNHEALTHY", "TERMINATED"})
UPDATE_ALLOWED = frozenset({"CONNECTION_LOST", "HEALTHY", "RUNNING", "UNHEALTHY"})
# States the service leaves by itself, ending HEALTHY.
PASSING_STATES = frozenset({"CREATING", "MODIFYING", "UNDER_MAINTENANCE", "RESTORING"})
ENGINES = {"ChefAutomate": ("Single", "2019"), "Puppet": ("Monolithic", "2019")}
TOOLS_VERSION = "2.4.0"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# How long a server seeded without a creation time has existed.
SEEDED_SERVER_AGE = timedelta(days=365)
STATUS_DESCRIPTIONS = {
    "IN_PROGRESS": "Backup in progress.",
    "OK": "Backup completed successfully.",
    "FAILED": "The backup failed.",
    "DELETING": "Backup deletion in progress.",
}


@dataclass
class EmulatorConfig:
    """How the emulated account behaves. Durations are in emulated seconds."""

    manual_backup_limit: int = 50
    server_limit: int = 10
    backup_seconds: float = 120.0
    server_seconds: float = 60.0
    delete_seconds: float = 5.0
    fail_backups: tuple[str, ...] = ()
    # A server created from a backup (CreateServer with BackupId) is CREATING this long; it
    # ends FAILED instead of HEALTHY when the backup's server matches one of `fail_restores`.
    restore_seconds: float = 180.0
    fail_restores: tuple[str, ...] = ()
    # Whether a manual backup that is being deleted still counts toward the limit until it is
    # gone. The API reference does not say; the product must be right under both readings.
    deleting_counts_toward_limit: bool = False
    region: str = "us-east-1"
    account_id: str = "123456789012"


@dataclass
class Server:
    name: str
    arn: str
    engine: str
    engine_model: str
    engine_version: str
    created_at: datetime
    status: str
    instance_type: str
    instance_profile_arn: str
    service_role_arn: str
    preferred_backup_window: str
    preferred_maintenance_window: str
    backup_retention_count: int = 1
    disable_automated_backup: bool = False
    key_pair: str = ""
    security_group_ids: list[str] = field(default_factory=list)
    subnet_ids: list[str] = field(default_factory=list)
    associate_public_ip_address: bool = True
    custom_domain: str = ""
    endpoint: str = ""
    cloudformation_stack_arn: str = ""
    status_reason: str = ""
    maintenance_status: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    # Where a passing state (BACKING_UP, MODIFYING, ...) returns to, and a counter that makes
    # transitions scheduled before a newer change stale.
    resume_status: str = "HEALTHY"
    generation: int = 0
    window_generation: int = 0

    def describe(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "AssociatePublicIpAddress": self.associate_public_ip_address,
            "BackupRetentionCount": self.backup_retention_count,
            "ServerName": self.name,
            "CreatedAt": self.created_at,
            "CloudFormationStackArn": self.cloudformation_stack_arn,
            "DisableAutomatedBackup": self.disable_automated_backup,
            "Endpoint": self.endpoint,
            "Engine": self.engine,
            "EngineModel": self.engine_model,
            "EngineAttributes": [],
            "EngineVersion": self.engine_version,
            "InstanceProfileArn": self.instance_profile_arn,
            "InstanceType": self.instance_type,
            "PreferredMaintenanceWindow": self.preferred_maintenance_window,
            "PreferredBackupWindow": self.preferred_backup_window,
            "SecurityGroupIds": list(self.security_group_ids),
            "ServiceRoleArn": self.service_role_arn,
            "Status": self.status,
            "SubnetIds": list(self.subnet_ids),
            "ServerArn": self.arn,
        }
        optional = {
            "CustomDomain": self.custom_domain,
            "KeyPair": self.key_pair,
            "MaintenanceStatus": self.maintenance_status,
            "StatusReason": self.status_reason,
        }
        data.update({k: v for k, v in optional.items() if v})
        return data


@dataclass
class Backup:
    backup_id: str
    arn: str
    backup_type: str
    created_at: datetime
    server_name: str
    status: str
    description: str
    user_arn: str
    # Copied from the server when the backup is created, as the reference says.
    server_fields: dict[str, Any]
    status_description: str = ""
    tags: dict[str, str] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "BackupArn": self.arn,
            "BackupId": self.backup_id,
            "BackupType": self.backup_type,
            "CreatedAt": self.created_at,
            "Description": self.description,
            **self.server_fields,
            # Deprecated and no longer used by the service; present for shape fidelity.
            "S3DataSize": 0,
            "S3DataUrl": "",
            "S3LogUrl": (
                f"https://s3.amazonaws.com/opsworks-cm-logs/{self.server_name}/{self.backup_id}.log"
            ),
            "ServerName": self.server_name,
            "Status": self.status,
            "StatusDescription": self.status_description,
            "UserArn": self.user_arn,
        }


@dataclass(order=True)
class _Due:
    when: datetime
    seq: int
    action: Callable[[datetime], None] = field(compare=False)


def parse_window(window: str) -> tuple[int | None, int, int]:
    """`HH:MM` (daily) or `Ddd:HH:MM` (weekly) -> (weekday or None, hour, minute)."""
    parts = window.split(":")
    weekday = WEEKDAYS.index(parts[0]) if len(parts) == 3 else None
    return weekday, int(parts[-2]), int(parts[-1])


def next_window(window: str, after: datetime) -> datetime:
    """The first start of `window` strictly after `after` (windows are in UTC)."""
    weekday, hour, minute = parse_window(window)
    candidate = after.replace(hour=hour, minute=minute, second=0, microsecond=0)
    if weekday is not None:
        candidate += timedelta(days=(weekday - candidate.weekday()) % 7)
        step = timedelta(days=7)
    else:
        step = timedelta(days=1)
    while candidate <= after:
        candidate += step
    return candidate


def backup_id_for(server_name: str, created_at: datetime) -> str:
    return f"{server_name}-{created_at:%Y%m%d%H%M%S}{created_at.microsecond // 1000:03d}"
