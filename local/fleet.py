"""Fleet files: a JSON description of an OpsWorks CM account to seed the emulator with.

    {
      "account": {"manualBackupLimit": 20, "serverLimit": 10, "restoreSeconds": 600},
      "failBackups": ["puppet-flaky"],
      "failRestores": ["puppet-*"],
      "servers": [
        {"name": "chef-prod", "engine": "ChefAutomate", "status": "HEALTHY",
         "tags": {"opsworks-cm-backup": "enabled"},
         "backups": [{"ageDays": 1, "own": true},
                     {"ageDays": 40, "description": "before the 2025 migration"},
                     {"ageDays": 2, "type": "AUTOMATED"}]},
        {"name": "chef-legacy", "ageDays": 400, "deleted": true,
         "backups": [{"ageDays": 90, "own": true}]}
      ]
    }

A backup is MANUAL and OK unless it says otherwise; `own: true` marks it as made by this product
(the Description marker), so retention may prune it. A server is created `ageDays` ago (default
365, before its backups); `deleted: true` removes it after seeding, leaving its manual backups.
A server created from a backup (a restore) takes the account's `restoreSeconds` to be HEALTHY,
or ends FAILED when the backup's server matches one of `failRestores`.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from backup_orchestrator.contract.validation import problems
from backup_orchestrator.domain import marker, ownership
from backup_orchestrator.domain.tiers import Tier
from local.emulator.backend import PASSING_STATES, SERVER_STATUSES, Backend
from local.emulator.backend import Backup as EmulatedBackup
from local.emulator.wire import Emulator

FLEETS_DIR = Path(__file__).resolve().parent / "fleets"


class FleetError(ValueError):
    """The fleet file is not valid; the message names the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FleetBackup(_Strict):
    age_days: Annotated[float, Field(alias="ageDays", ge=0)]
    type: Literal["MANUAL", "AUTOMATED"] = "MANUAL"
    status: Literal["OK", "FAILED"] = "OK"
    own: bool = False
    description: str = ""
    # An own backup's tier, and whether it carries the product's tags (false: made before the
    # product tagged its backups, so it awaits `owcm-backup adopt`).
    tier: Tier = Tier.DAILY
    tagged: bool = True


class FleetServer(_Strict):
    name: Annotated[str, Field(pattern=r"^[a-zA-Z][a-zA-Z0-9\-]{0,39}$")]
    engine: Literal["ChefAutomate", "Puppet"] = "ChefAutomate"
    status: str = "HEALTHY"
    tags: dict[str, str] = {}
    backups: list[FleetBackup] = []
    preferred_backup_window: Annotated[str | None, Field(alias="preferredBackupWindow")] = None
    # How long ago the server was created; its backups must be younger.
    age_days: Annotated[float, Field(alias="ageDays", gt=0)] = 365
    # A server that was deleted: only its manual backups remain in the account.
    deleted: bool = False
    # A server in a passing state (UNDER_MAINTENANCE, ...) becomes HEALTHY this long from now.
    busy_minutes: Annotated[float | None, Field(alias="busyMinutes", gt=0)] = None

    def model_post_init(self, context: object) -> None:
        if self.status not in SERVER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(SERVER_STATUSES)}")

    @model_validator(mode="after")
    def _busy_ends(self) -> FleetServer:
        if self.busy_minutes is not None and self.status not in PASSING_STATES:
            raise ValueError(
                f"busyMinutes needs a status the server leaves by itself "
                f"({', '.join(sorted(PASSING_STATES))}), not {self.status}"
            )
        return self

    @model_validator(mode="after")
    def _backups_after_creation(self) -> FleetServer:
        older = [b.age_days for b in self.backups if b.age_days >= self.age_days]
        if older:
            raise ValueError(
                f"a backup {older[0]:g} days old is older than the server ({self.age_days:g} "
                "days, its ageDays)"
            )
        return self


class FleetAccount(_Strict):
    manual_backup_limit: Annotated[int, Field(alias="manualBackupLimit", ge=1)] = 50
    server_limit: Annotated[int, Field(alias="serverLimit", ge=1)] = 10
    # A manual backup being deleted still counts toward the limit until it is gone.
    deleting_counts_toward_limit: Annotated[bool, Field(alias="deletingCountsTowardLimit")] = False
    # How long a server created from a backup (a restore) stays CREATING.
    restore_seconds: Annotated[float | None, Field(alias="restoreSeconds", ge=0)] = None


class Fleet(_Strict):
    account: FleetAccount = FleetAccount()
    fail_backups: Annotated[list[str], Field(alias="failBackups")] = []
    # Servers created from a backup of a server whose name matches end FAILED.
    fail_restores: Annotated[list[str], Field(alias="failRestores")] = []
    servers: list[FleetServer]


def load(path: Path) -> Fleet:
    """Read and validate a fleet file. Raises FleetError naming the bad field."""
    try:
        return Fleet.model_validate(json.loads(path.read_text()))
    except OSError as exc:
        raise FleetError(f"cannot read fleet file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise FleetError(f"fleet file {path} is not JSON: {exc}") from None
    except ValidationError as exc:
        described = "; ".join(f"field '{field}': {message}" for field, message in problems(exc))
        raise FleetError(f"fleet file {path}: {described}") from None


def add_own_backup(
    backend: Backend,
    server_name: str,
    created_at: datetime,
    text: str = "scheduled backup",
    *,
    status: str = "OK",
    tier: Tier = Tier.DAILY,
    tagged: bool = True,
) -> EmulatedBackup:
    """Record a manual backup this product made at `created_at` (the scheduled run of that
    moment), of `tier`, as an earlier run would have left it; `tagged=False`: as a run made it
    before the product tagged its backups (its marker without a tier, no tags)."""
    run = marker.scheduled_run_id(created_at)
    description = marker.description(run, text, tier if tagged else None)
    tags = ownership.creation_tags(run, tier) if tagged else None
    return backend.add_backup(
        server_name, created_at, status=status, description=description, tags=tags
    )


def seed(emulator: Emulator, fleet: Fleet, backend: Backend | None = None) -> None:
    """Put the fleet's servers and backups into the emulated account (`backend`: one of the
    emulator's accounts and regions, `Emulator.backend_for`; default: its default one)."""
    backend = backend or emulator.backend
    backend.config.manual_backup_limit = fleet.account.manual_backup_limit
    backend.config.server_limit = max(fleet.account.server_limit, len(fleet.servers))
    # Added to what the account was already set to fail (the emulator's --fail-backups and
    # --fail-restores).
    backend.config.fail_backups = tuple(
        dict.fromkeys((*backend.config.fail_backups, *fleet.fail_backups))
    )
    backend.config.fail_restores = tuple(
        dict.fromkeys((*backend.config.fail_restores, *fleet.fail_restores))
    )
    if fleet.account.restore_seconds is not None:
        backend.config.restore_seconds = fleet.account.restore_seconds
    backend.config.deleting_counts_toward_limit = (
        backend.config.deleting_counts_toward_limit or fleet.account.deleting_counts_toward_limit
    )
    now = backend.settle()
    for server in fleet.servers:
        extra: dict[str, Any] = {}
        if server.preferred_backup_window:
            extra["PreferredBackupWindow"] = server.preferred_backup_window
        backend.add_server(
            server.name,
            engine=server.engine,
            status=server.status,
            tags=server.tags,
            created_at=now - timedelta(days=server.age_days),
            busy_seconds=None if server.busy_minutes is None else server.busy_minutes * 60,
            **extra,
        )
        for index, backup in enumerate(server.backups):
            # A second apart, so backups of the same age get distinct ids.
            created = now - timedelta(days=backup.age_days, seconds=index)
            if backup.own and backup.type == "MANUAL":
                text = backup.description or "scheduled backup"
                add_own_backup(
                    backend,
                    server.name,
                    created,
                    text,
                    status=backup.status,
                    tier=backup.tier,
                    tagged=backup.tagged,
                )
                continue
            backend.add_backup(
                server.name,
                created,
                backup_type=backup.type,
                status=backup.status,
                description=backup.description,
            )
        if server.deleted:
            backend.remove_server(server.name)
