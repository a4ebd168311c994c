"""The emulated OpsWorks CM account: servers, backups, tags, events, and how they change in time.

Each public `op_*` method is one API operation: it takes the request parameters (already checked
against the model) and returns the response body. Time-driven changes (a backup finishing, a
server leaving `CREATING`, an automated backup in its window) sit on a timeline and are applied,
in order, whenever the clock is read by a request (`settle`).
"""

from __future__ import annotations

import fnmatch
import heapq
import itertools
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from backup_orchestrator.models import SERVER_STATES
from local.emulator import tags as tag_rules
from local.emulator.clock import Clock, SystemClock
from local.emulator.errors import (
    InvalidNextTokenException,
    InvalidStateException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ValidationException,
)

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


def _paginate(items: list[Any], params: dict[str, Any], key: str) -> dict[str, Any]:
    start = 0
    token = params.get("NextToken")
    if token is not None:
        if not token.isdigit() or int(token) > len(items):
            raise InvalidNextTokenException(f"The NextToken '{token}' is not valid.")
        start = int(token)
    size = params.get("MaxResults") or len(items) or 1
    page = items[start : start + size]
    result: dict[str, Any] = {key: page}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return result


class Backend:
    """The state of one emulated account and region. Not thread-safe: callers hold `lock`."""

    def __init__(self, config: EmulatorConfig | None = None, clock: Clock | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.clock = clock or SystemClock()
        self.lock = threading.RLock()
        self.servers: dict[str, Server] = {}
        self.backups: dict[str, Backup] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self._timeline: list[_Due] = []
        self._seq = itertools.count()

    # ---- time ---------------------------------------------------------------------------

    def settle(self, now: datetime | None = None) -> datetime:
        """Apply every scheduled change due by `now`, in time order; return `now`."""
        now = now or self.clock.now()
        while self._timeline and self._timeline[0].when <= now:
            due = heapq.heappop(self._timeline)
            due.action(due.when)
        return now

    def _at(self, when: datetime, action: Callable[[datetime], None]) -> None:
        heapq.heappush(self._timeline, _Due(when, next(self._seq), action))

    def _after(self, start: datetime, seconds: float, action: Callable[[datetime], None]) -> None:
        self._at(start + timedelta(seconds=seconds), action)

    def _event(self, server_name: str, at: datetime, message: str, log_url: str = "") -> None:
        event = {"CreatedAt": at, "ServerName": server_name, "Message": message}
        if log_url:
            event["LogUrl"] = log_url
        self.events.setdefault(server_name, []).append(event)

    def _pass_through(
        self,
        server: Server,
        status: str,
        then: str,
        at: datetime,
        why: str,
        seconds: float | None = None,
    ) -> None:
        """Put `server` in a passing state that ends in `then` after `seconds` (default
        `server_seconds`)."""
        server.generation += 1
        generation = server.generation
        server.status = status
        server.resume_status = then
        self._event(server.name, at, why)

        def finish(when: datetime) -> None:
            current = self.servers.get(server.name)
            if current is server and server.generation == generation:
                server.status = then
                if status == "UNDER_MAINTENANCE":
                    server.maintenance_status = "SUCCESS"
                self._event(server.name, when, f"Server {server.name} is now {then}.")

        self._after(at, self.config.server_seconds if seconds is None else seconds, finish)

    def _schedule_window(self, server: Server, after: datetime) -> None:
        server.window_generation += 1
        generation = server.window_generation

        def automated(when: datetime) -> None:
            current = self.servers.get(server.name)
            if current is not server or server.window_generation != generation:
                return
            if server.disable_automated_backup:
                pass
            elif server.status in BACKUP_ALLOWED:
                self._start_backup(server, "AUTOMATED", "", "", when)
            else:
                self._event(
                    server.name,
                    when,
                    f"Automated backup skipped: the server was {server.status}.",
                )
            self._schedule_window(server, when)

        self._at(next_window(server.preferred_backup_window, after), automated)

    # ---- helpers ------------------------------------------------------------------------

    def _server(self, name: str) -> Server:
        server = self.servers.get(name)
        if server is None:
            raise ResourceNotFoundException(f"There is no server named '{name}'.")
        return server

    def _backup(self, backup_id: str) -> Backup:
        backup = self.backups.get(backup_id)
        if backup is None:
            raise ResourceNotFoundException(f"There is no backup with id '{backup_id}'.")
        return backup

    def manual_backups_used(self) -> int:
        counted = {"IN_PROGRESS", "OK", "FAILED"}
        if self.config.deleting_counts_toward_limit:
            counted.add("DELETING")
        return sum(
            1 for b in self.backups.values() if b.backup_type == "MANUAL" and b.status in counted
        )

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:opsworks-cm:{self.config.region}:{self.config.account_id}:{kind}/{name}"

    def _resource_tags(self, arn: str) -> tuple[dict[str, str], str]:
        for server in self.servers.values():
            if server.arn == arn:
                return server.tags, server.status
        for backup in self.backups.values():
            if backup.arn == arn:
                return backup.tags, backup.status
        raise ResourceNotFoundException(f"There is no resource with ARN '{arn}'.")

    def _new_backup(
        self,
        server: Server,
        backup_type: str,
        at: datetime,
        status: str,
        description: str,
        user_arn: str,
    ) -> Backup:
        backup_id = backup_id_for(server.name, at)
        manual = backup_type == "MANUAL"
        backup = Backup(
            backup_id=backup_id,
            arn=self._arn("backup", backup_id),
            backup_type=backup_type,
            created_at=at,
            server_name=server.name,
            status=status,
            # Description and UserArn are empty for automated backups, as the reference says.
            description=description if manual else "",
            user_arn=user_arn if manual else "",
            server_fields={
                "Engine": server.engine,
                "EngineModel": server.engine_model,
                "EngineVersion": server.engine_version,
                "InstanceProfileArn": server.instance_profile_arn,
                "InstanceType": server.instance_type,
                "KeyPair": server.key_pair,
                "PreferredBackupWindow": server.preferred_backup_window,
                "PreferredMaintenanceWindow": server.preferred_maintenance_window,
                "SecurityGroupIds": list(server.security_group_ids),
                "ServiceRoleArn": server.service_role_arn,
                "SubnetIds": list(server.subnet_ids),
                "ToolsVersion": TOOLS_VERSION,
            },
            status_description=STATUS_DESCRIPTIONS[status],
        )
        self.backups[backup_id] = backup
        return backup

    def _start_backup(
        self,
        server: Server,
        backup_type: str,
        description: str,
        user_arn: str,
        at: datetime,
    ) -> Backup:
        backup = self._new_backup(server, backup_type, at, "IN_PROGRESS", description, user_arn)
        backup_id = backup.backup_id
        server.generation += 1
        generation = server.generation
        server.resume_status = server.status
        server.status = "BACKING_UP"
        self._event(server.name, at, f"{backup_type.title()} backup {backup_id} started.")

        def finish(when: datetime) -> None:
            failing = [g for g in self.config.fail_backups if fnmatch.fnmatchcase(server.name, g)]
            if backup.status == "IN_PROGRESS":
                if failing:
                    backup.status = "FAILED"
                    backup.status_description = (
                        f"The backup failed (emulator set to fail servers matching {failing[0]!r})."
                    )
                else:
                    backup.status = "OK"
                    backup.status_description = STATUS_DESCRIPTIONS["OK"]
            if self.servers.get(server.name) is server and server.generation == generation:
                server.status = server.resume_status
            self._event(server.name, when, f"Backup {backup_id} finished: {backup.status}.")
            if backup_type == "AUTOMATED":
                self._prune_automated(server, when)

        self._after(at, self.config.backup_seconds, finish)
        return backup

    def _prune_automated(self, server: Server, at: datetime) -> None:
        finished = sorted(
            (
                b
                for b in self.backups.values()
                if b.server_name == server.name
                and b.backup_type == "AUTOMATED"
                and b.status in ("OK", "FAILED")
            ),
            key=lambda b: b.created_at,
            reverse=True,
        )
        for old in finished[server.backup_retention_count :]:
            del self.backups[old.backup_id]
            self._event(server.name, at, f"Automated backup {old.backup_id} expired.")

    def _checked_tags(self, params: dict[str, Any]) -> dict[str, str]:
        tags = tag_rules.normalize(params.get("Tags") or [])
        tag_rules.check_count(tags)
        return tags

    # ---- control plane: seeding and steering, not part of the AWS API ---------------------

    def add_server(
        self,
        name: str,
        *,
        engine: str = "ChefAutomate",
        status: str = "HEALTHY",
        tags: dict[str, str] | None = None,
        created_at: datetime | None = None,
        busy_seconds: float | None = None,
        **fields: Any,
    ) -> Server:
        """Put a server straight into the account, in any state (for fleets and tests). Unless
        `created_at` says otherwise it has existed for SEEDED_SERVER_AGE, so backups made in the
        past can be added for it. With `busy_seconds`, a server in a passing state (CREATING,
        MODIFYING, UNDER_MAINTENANCE, RESTORING) becomes HEALTHY that long from now."""
        if status not in SERVER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(SERVER_STATUSES)}, not {status!r}")
        now = self.settle()
        params = {
            "ServerName": name,
            "Engine": engine,
            "InstanceProfileArn": f"arn:aws:iam::{self.config.account_id}:instance-profile/"
            "aws-opsworks-cm-ec2-role",
            "InstanceType": "m5.large",
            "ServiceRoleArn": f"arn:aws:iam::{self.config.account_id}:role/service-role/"
            "aws-opsworks-cm-service-role",
            **fields,
        }
        server = self._new_server(params, created_at or now - SEEDED_SERVER_AGE, status)
        server.tags = dict(tags or {})
        tag_rules.check_count(server.tags)
        self._schedule_window(server, max(now, server.created_at))
        if busy_seconds is not None:
            if status not in PASSING_STATES:
                raise ValueError(f"{status} is not a passing state: it cannot end by itself")
            why = f"Server {name} is {status} for another {busy_seconds:g} s."
            self._pass_through(server, status, "HEALTHY", now, why, busy_seconds)
        return server

    def add_backup(
        self,
        server_name: str,
        created_at: datetime,
        *,
        backup_type: str = "MANUAL",
        status: str = "OK",
        description: str = "",
    ) -> Backup:
        """Record a finished backup made in the past (for fleets and tests). Raises ValueError
        for a backup older than its server: the service could not have made it."""
        server = self._server(server_name)
        if created_at < server.created_at:
            raise ValueError(
                f"a backup made at {created_at:%Y-%m-%d %H:%M} is older than server "
                f"{server_name}, created at {server.created_at:%Y-%m-%d %H:%M}"
            )
        if backup_id_for(server_name, created_at) in self.backups:
            raise ValueError(f"backup {backup_id_for(server_name, created_at)} already exists")
        operator = f"arn:aws:iam::{self.config.account_id}:user/operator"
        return self._new_backup(server, backup_type, created_at, status, description, operator)

    def set_server_status(self, name: str, status: str, reason: str = "") -> None:
        """Force a server into a state, as an outage or an operator elsewhere would."""
        if status not in SERVER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(SERVER_STATUSES)}, not {status!r}")
        server = self._server(name)
        server.generation += 1
        server.status = status
        server.status_reason = reason
        self._event(name, self.settle(), f"Server {name} is now {status}. {reason}".strip())

    def remove_server(self, name: str) -> None:
        """Make a server vanish at once (its manual backups stay, as in the service)."""
        self.settle()
        self._drop_server(self._server(name))

    # ---- operations ---------------------------------------------------------------------

    def _new_server(self, params: dict[str, Any], at: datetime, status: str) -> Server:
        name = params["ServerName"]
        engine = params["Engine"]
        if engine not in ENGINES:
            raise ValidationException(
                f"Engine '{engine}' is not supported; use one of: {', '.join(ENGINES)}."
            )
        if name in self.servers:
            raise ResourceAlreadyExistsException(f"A server named '{name}' already exists.")
        if len(self.servers) >= self.config.server_limit:
            raise LimitExceededException(
                f"The maximum number of servers ({self.config.server_limit}) has been reached."
            )
        model, version = ENGINES[engine]
        ident = uuid.uuid5(uuid.NAMESPACE_URL, f"opsworks-cm/{name}")
        digits = int(ident.hex[:8], 16)
        server = Server(
            name=name,
            arn=self._arn("server", f"{name}/{ident}"),
            engine=engine,
            engine_model=params.get("EngineModel") or model,
            engine_version=params.get("EngineVersion") or version,
            created_at=at,
            status=status,
            instance_type=params["InstanceType"],
            instance_profile_arn=params["InstanceProfileArn"],
            service_role_arn=params["ServiceRoleArn"],
            preferred_backup_window=params.get("PreferredBackupWindow")
            or f"{digits % 24:02d}:{(digits // 24) % 4 * 15:02d}",
            preferred_maintenance_window=params.get("PreferredMaintenanceWindow")
            or f"{WEEKDAYS[digits % 7]}:{(digits // 7) % 24:02d}:00",
            backup_retention_count=params.get("BackupRetentionCount", 1),
            disable_automated_backup=params.get("DisableAutomatedBackup", False),
            key_pair=params.get("KeyPair", ""),
            security_group_ids=params.get("SecurityGroupIds") or [f"sg-{ident.hex[:17]}"],
            subnet_ids=params.get("SubnetIds") or [f"subnet-{ident.hex[8:25]}"],
            associate_public_ip_address=params.get("AssociatePublicIpAddress", True),
            custom_domain=params.get("CustomDomain", ""),
            endpoint=params.get("CustomDomain")
            or f"{name}-{ident.hex[:16]}.{self.config.region}.opsworks-cm.io",
            cloudformation_stack_arn=(
                f"arn:aws:cloudformation:{self.config.region}:{self.config.account_id}:stack/"
                f"aws-opsworks-cm-instance-{name}-{digits}/{ident}"
            ),
        )
        self.servers[name] = server
        return server

    def _drop_server(self, server: Server) -> None:
        del self.servers[server.name]
        self.events.pop(server.name, None)
        for backup in [b for b in self.backups.values() if b.server_name == server.name]:
            if backup.backup_type == "AUTOMATED":
                del self.backups[backup.backup_id]

    def op_create_server(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        now = self.settle()
        tags = self._checked_tags(params)
        if "BackupId" in params:
            source = self._backup(params["BackupId"])
            if source.status != "OK":
                raise ValidationException(
                    f"Backup {source.backup_id} is {source.status}; "
                    "only an OK backup can seed a server."
                )
        server = self._new_server(params, now, "CREATING")
        server.tags = tags
        self._pass_through(
            server, "CREATING", "HEALTHY", now, f"Server {server.name} creation started."
        )
        self._schedule_window(server, now)
        secret_name = (
            "CHEF_AUTOMATE_ADMIN_PASSWORD"
            if server.engine == "ChefAutomate"
            else "PUPPET_ADMIN_PASSWORD"
        )
        described = server.describe()
        described["EngineAttributes"] = [{"Name": secret_name, "Value": uuid.uuid4().hex}]
        return {"Server": described}

    def op_delete_server(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        now = self.settle()
        server = self._server(params["ServerName"])
        if server.status == "DELETING":
            raise InvalidStateException(f"Server {server.name} is already being deleted.")
        if server.status == "BACKING_UP":
            raise InvalidStateException(
                f"Server {server.name} is BACKING_UP and cannot be changed until the backup ends."
            )
        server.generation += 1
        generation = server.generation
        server.status = "DELETING"
        self._event(server.name, now, f"Server {server.name} deletion started.")

        def gone(when: datetime) -> None:
            if self.servers.get(server.name) is server and server.generation == generation:
                self._drop_server(server)

        self._after(now, self.config.server_seconds, gone)
        return {}

    def op_describe_servers(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        if params.get("ServerName"):
            return {"Servers": [self._server(params["ServerName"]).describe()]}
        # NextToken and MaxResults are documented as not implemented for DescribeServers.
        return {"Servers": [s.describe() for s in self.servers.values()]}

    def op_update_server(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        now = self.settle()
        server = self._server(params["ServerName"])
        if server.status not in UPDATE_ALLOWED:
            raise InvalidStateException(
                f"Server {server.name} is {server.status} and cannot be changed now."
            )
        if "BackupRetentionCount" in params and params["BackupRetentionCount"] < 1:
            raise ValidationException("BackupRetentionCount must be at least 1.")
        if "DisableAutomatedBackup" in params:
            server.disable_automated_backup = params["DisableAutomatedBackup"]
        if "BackupRetentionCount" in params:
            server.backup_retention_count = params["BackupRetentionCount"]
        if "PreferredMaintenanceWindow" in params:
            server.preferred_maintenance_window = params["PreferredMaintenanceWindow"]
        if "PreferredBackupWindow" in params:
            server.preferred_backup_window = params["PreferredBackupWindow"]
            self._schedule_window(server, now)
        self._pass_through(
            server, "MODIFYING", server.status, now, f"Server {server.name} update started."
        )
        return {"Server": server.describe()}

    def op_start_maintenance(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        now = self.settle()
        server = self._server(params["ServerName"])
        if server.status not in MAINTENANCE_ALLOWED:
            raise InvalidStateException(
                f"Server {server.name} is {server.status}; maintenance can start only when it is "
                "RUNNING, HEALTHY or UNHEALTHY."
            )
        self._pass_through(server, "UNDER_MAINTENANCE", "HEALTHY", now, "Maintenance started.")
        return {"Server": server.describe()}

    def op_restore_server(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        now = self.settle()
        server = self._server(params["ServerName"])
        backup = self._backup(params["BackupId"])
        if server.status not in RESTORE_ALLOWED:
            raise InvalidStateException(
                f"Server {server.name} is {server.status}; a restore needs it CONNECTION_LOST, "
                "HEALTHY, RUNNING, UNHEALTHY or TERMINATED."
            )
        if backup.server_name != server.name:
            raise ValidationException(
                f"Backup {backup.backup_id} belongs to {backup.server_name}, not {server.name}."
            )
        if backup.status != "OK":
            raise InvalidStateException(f"Backup {backup.backup_id} is {backup.status}, not OK.")
        if params.get("InstanceType"):
            server.instance_type = params["InstanceType"]
        if params.get("KeyPair"):
            server.key_pair = params["KeyPair"]
        self._pass_through(
            server, "RESTORING", "HEALTHY", now, f"Restore from backup {backup.backup_id} started."
        )
        return {"Server": server.describe()}

    def op_create_backup(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        now = self.settle()
        tags = self._checked_tags(params)
        server = self._server(params["ServerName"])
        if server.status not in BACKUP_ALLOWED:
            raise InvalidStateException(
                f"Server {server.name} is {server.status}; backups can be created only when it is "
                "RUNNING, HEALTHY or UNHEALTHY."
            )
        limit = self.config.manual_backup_limit
        if self.manual_backups_used() >= limit:
            raise LimitExceededException(
                f"The maximum number of manual backups ({limit}) has been reached. "
                "Delete a manual backup and try again."
            )
        backup = self._start_backup(server, "MANUAL", params.get("Description", ""), caller, now)
        backup.tags = tags
        return {"Backup": backup.describe()}

    def op_delete_backup(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        now = self.settle()
        backup = self._backup(params["BackupId"])
        if backup.status == "DELETING":
            raise InvalidStateException(f"Backup {backup.backup_id} is already being deleted.")
        if backup.status == "IN_PROGRESS":
            raise InvalidStateException(
                f"Backup {backup.backup_id} is IN_PROGRESS and cannot be deleted until it ends."
            )
        backup.status = "DELETING"
        backup.status_description = STATUS_DESCRIPTIONS["DELETING"]

        def gone(when: datetime) -> None:
            self.backups.pop(backup.backup_id, None)

        self._after(now, self.config.delete_seconds, gone)
        return {}

    def op_describe_backups(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        backups: Iterable[Backup] = self.backups.values()
        if params.get("BackupId"):
            backups = [self._backup(params["BackupId"])]
        if params.get("ServerName"):
            name = params["ServerName"]
            backups = [b for b in backups if b.server_name == name]
            if name not in self.servers and not backups and not params.get("BackupId"):
                raise ResourceNotFoundException(f"There is no server named '{name}'.")
        ordered = sorted(backups, key=lambda b: (b.created_at, b.backup_id), reverse=True)
        # NextToken and MaxResults are documented as not implemented for DescribeBackups.
        return {"Backups": [b.describe() for b in ordered]}

    def op_describe_account_attributes(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        return {
            "Attributes": [
                {
                    "Name": "ServerLimit",
                    "Maximum": self.config.server_limit,
                    "Used": len(self.servers),
                },
                {
                    "Name": "ManualBackupLimit",
                    "Maximum": self.config.manual_backup_limit,
                    "Used": self.manual_backups_used(),
                },
            ]
        }

    def op_describe_events(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        server = self._server(params["ServerName"])
        newest_first = list(reversed(self.events.get(server.name, [])))
        return _paginate(newest_first, params, "ServerEvents")

    def op_list_tags_for_resource(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        tags, _ = self._resource_tags(params["ResourceArn"])
        return _paginate(tag_rules.as_list(tags), params, "Tags")

    def op_tag_resource(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        new = tag_rules.normalize(params["Tags"])
        tags, status = self._resource_tags(params["ResourceArn"])
        if status == "DELETING":
            raise InvalidStateException(f"Resource {params['ResourceArn']} is being deleted.")
        merged = {**tags, **new}
        tag_rules.check_count(merged)
        tags.update(new)
        return {}

    def op_untag_resource(self, params: dict[str, Any], caller: str) -> dict[str, Any]:
        self.settle()
        tags, status = self._resource_tags(params["ResourceArn"])
        if status == "DELETING":
            raise InvalidStateException(f"Resource {params['ResourceArn']} is being deleted.")
        for key in params["TagKeys"]:
            tags.pop(key.strip(), None)
        return {}


OPERATIONS: dict[str, str] = {
    "CreateServer": "op_create_server",
    "DeleteServer": "op_delete_server",
    "DescribeServers": "op_describe_servers",
    "UpdateServer": "op_update_server",
    "StartMaintenance": "op_start_maintenance",
    "RestoreServer": "op_restore_server",
    "CreateBackup": "op_create_backup",
    "DeleteBackup": "op_delete_backup",
    "DescribeBackups": "op_describe_backups",
    "DescribeAccountAttributes": "op_describe_account_attributes",
    "DescribeEvents": "op_describe_events",
    "ListTagsForResource": "op_list_tags_for_resource",
    "TagResource": "op_tag_resource",
    "UntagResource": "op_untag_resource",
}
MUTATING_OPERATIONS = frozenset(
    {
        "CreateServer",
        "DeleteServer",
        "UpdateServer",
        "StartMaintenance",
        "RestoreServer",
        "CreateBackup",
        "DeleteBackup",
        "TagResource",
        "UntagResource",
    }
)
