"""Backups in the emulated account: manual and automated, their lives, and their operations."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from local.emulator.account import Account
from local.emulator.errors import (
    InvalidStateException,
    LimitExceededException,
    ResourceNotFoundException,
)
from local.emulator.records import (
    BACKUP_ALLOWED,
    STATUS_DESCRIPTIONS,
    TOOLS_VERSION,
    Backup,
    Server,
    backup_id_for,
    next_window,
)


class BackupOperations(Account):
    """Making, finishing, pruning and deleting backups; automated backups in their window."""

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

    # ---- control plane: seeding and steering, not part of the AWS API ---------------------

    def add_backup(
        self,
        server_name: str,
        created_at: datetime,
        *,
        backup_type: str = "MANUAL",
        status: str = "OK",
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> Backup:
        """Record a finished backup made in the past, with the tags it was made with (for fleets
        and tests). Raises ValueError for a backup older than its server: the service could not
        have made it."""
        server = self._server(server_name)
        if created_at < server.created_at:
            raise ValueError(
                f"a backup made at {created_at:%Y-%m-%d %H:%M} is older than server "
                f"{server_name}, created at {server.created_at:%Y-%m-%d %H:%M}"
            )
        if backup_id_for(server_name, created_at) in self.backups:
            raise ValueError(f"backup {backup_id_for(server_name, created_at)} already exists")
        operator = f"arn:aws:iam::{self.config.account_id}:user/operator"
        backup = self._new_backup(server, backup_type, created_at, status, description, operator)
        backup.tags = dict(tags or {})
        return backup

    # ---- operations ---------------------------------------------------------------------

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
