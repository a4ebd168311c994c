"""Domain records: what the orchestrator knows about servers, backups and the account quota."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# Backups this product creates carry this prefix in their Description, so they can be told
# apart from everyone else's with the DescribeBackups answer alone (no per-backup calls).
OWN_MARKER = "[opsworks-cm-backup"

# Every state an OpsWorks CM server can be in (ServerStatus in the API model).
SERVER_STATES = (
    "BACKING_UP", "CONNECTION_LOST", "CREATING", "DELETING", "MODIFYING", "FAILED", "HEALTHY",
    "RUNNING", "RESTORING", "SETUP", "UNDER_MAINTENANCE", "UNHEALTHY", "TERMINATED",
)  # fmt: skip

# CreateBackup is allowed only in these server states (API reference).
BACKUP_ALLOWED_STATES = frozenset({"RUNNING", "HEALTHY", "UNHEALTHY"})

# Not a service state: a server that vanished between DescribeServers and a later call.
GONE = "GONE"

RETAIN_TAG = "opsworks-cm-backup:retain"
RETAIN_MIN, RETAIN_MAX = 1, 49


class PruneScope(StrEnum):
    OWN = "own"
    ALL_MANUAL = "all-manual"


class Outcome(StrEnum):
    STARTED = "STARTED"
    PLANNED = "PLANNED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Server:
    name: str
    status: str
    arn: str = ""
    engine: str = ""
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class Backup:
    backup_id: str
    server_name: str
    backup_type: str  # AUTOMATED | MANUAL
    status: str  # IN_PROGRESS | OK | FAILED | DELETING
    created_at: datetime
    description: str = ""

    @property
    def is_manual(self) -> bool:
        return self.backup_type == "MANUAL"

    @property
    def is_own(self) -> bool:
        return self.is_manual and self.description.startswith(OWN_MARKER)

    @property
    def counts_toward_limit(self) -> bool:
        return self.is_manual and self.status in ("IN_PROGRESS", "OK", "FAILED")


@dataclass(frozen=True)
class Quota:
    used: int
    maximum: int

    @property
    def headroom(self) -> int:
        return max(0, self.maximum - self.used)


def run_marker(run_id: str) -> str:
    """How every backup a given run creates begins its Description."""
    return f"{OWN_MARKER} run={run_id}]"


def own_description(run_id: str, text: str | None) -> str:
    """The Description of a backup this product creates: marker, run, the operator's text."""
    suffix = f" {text}" if text else ""
    return f"{run_marker(run_id)}{suffix}"
