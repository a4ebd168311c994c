"""Servers in the emulated account: their lives through passing states, and their operations."""

from __future__ import annotations

import fnmatch
import uuid
from datetime import datetime
from typing import Any

from local.emulator import rules
from local.emulator import tags as tag_rules
from local.emulator.backups import BackupOperations
from local.emulator.errors import (
    InvalidStateException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ValidationException,
)
from local.emulator.records import (
    ENGINES,
    MAINTENANCE_ALLOWED,
    PASSING_STATES,
    RESTORE_ALLOWED,
    SEEDED_SERVER_AGE,
    SERVER_STATUSES,
    UPDATE_ALLOWED,
    WEEKDAYS,
    Backup,
    Server,
)


class ServerOperations(BackupOperations):
    """Creating, changing, restoring and deleting servers, and steering them for tests."""

    def _pass_through(
        self,
        server: Server,
        status: str,
        then: str,
        at: datetime,
        why: str,
        seconds: float | None = None,
        reason: str = "",
    ) -> None:
        """Put `server` in a passing state that ends in `then` after `seconds` (default
        `server_seconds`), with `reason` as its StatusReason then."""
        server.generation += 1
        generation = server.generation
        server.status = status
        server.resume_status = then
        self._event(server.name, at, why)

        def finish(when: datetime) -> None:
            current = self.servers.get(server.name)
            if current is server and server.generation == generation:
                server.status = then
                server.status_reason = reason
                if status == "UNDER_MAINTENANCE":
                    server.maintenance_status = "SUCCESS"
                self._event(
                    server.name, when, f"Server {server.name} is now {then}. {reason}".strip()
                )

        self._after(at, self.config.server_seconds if seconds is None else seconds, finish)

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
        rules.check_engine(engine)
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
        source = self._backup(params["BackupId"]) if "BackupId" in params else None
        if source is not None:
            if source.status != "OK":
                raise ValidationException(
                    f"Backup {source.backup_id} is {source.status}; "
                    "only an OK backup can seed a server."
                )
            engine = source.server_fields["Engine"]
            if engine != params["Engine"]:
                raise ValidationException(
                    f"Backup {source.backup_id} is of a {engine} server; it cannot seed a "
                    f"{params['Engine']} server."
                )
        server = self._new_server(params, now, "CREATING")
        server.tags = tags
        if source is None:
            self._pass_through(
                server, "CREATING", "HEALTHY", now, f"Server {server.name} creation started."
            )
        else:
            self._restore_into(server, source, now)
        self._schedule_window(server, now)
        secret_name = (
            "CHEF_AUTOMATE_ADMIN_PASSWORD"
            if server.engine == "ChefAutomate"
            else "PUPPET_ADMIN_PASSWORD"
        )
        described = server.describe()
        described["EngineAttributes"] = [{"Name": secret_name, "Value": uuid.uuid4().hex}]
        return {"Server": described}

    def _restore_into(self, server: Server, source: Backup, at: datetime) -> None:
        """A new server created from `source`: CREATING for `restore_seconds`, then HEALTHY, or
        FAILED when the emulator is set to fail restores of the backup's server."""
        failing = [
            g for g in self.config.fail_restores if fnmatch.fnmatchcase(source.server_name, g)
        ]
        reason = (
            f"The restore from backup {source.backup_id} failed (emulator set to fail restores "
            f"of servers matching {failing[0]!r})."
            if failing
            else ""
        )
        self._pass_through(
            server,
            "CREATING",
            "FAILED" if failing else "HEALTHY",
            at,
            f"Server {server.name} creation from backup {source.backup_id} started.",
            seconds=self.config.restore_seconds,
            reason=reason,
        )

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
