"""Domain records: what the orchestrator knows about servers, backups and the account quota."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.tiers import MOST_KEPT, Tier

# Every state an OpsWorks CM server can be in (ServerStatus in the API model).
SERVER_STATES = (
    "BACKING_UP", "CONNECTION_LOST", "CREATING", "DELETING", "MODIFYING", "FAILED", "HEALTHY",
    "RUNNING", "RESTORING", "SETUP", "UNDER_MAINTENANCE", "UNHEALTHY", "TERMINATED",
)  # fmt: skip

# CreateBackup is allowed only in these server states (API reference).
BACKUP_ALLOWED_STATES = frozenset({"RUNNING", "HEALTHY", "UNHEALTHY"})
# States a server passes through and leaves on its own: a scheduled run tries it again later in
# the slot instead of counting it missed at once.
BUSY_STATES = frozenset({"BACKING_UP", "MODIFYING", "UNDER_MAINTENANCE", "RESTORING", "CREATING"})

# Not a service state: a server that vanished between DescribeServers and a later call.
GONE = "GONE"

RETAIN_TAG = "opsworks-cm-backup:retain"
RETAIN_MIN, RETAIN_MAX = 1, MOST_KEPT
# Backup states that hold a slot of the manual-backup limit whatever the service's reading of
# DELETING (safety rule 14).
COUNTED_STATES = frozenset({"IN_PROGRESS", "OK", "FAILED"})


class PruneScope(StrEnum):
    OWN = "own"
    ALL_MANUAL = "all-manual"


class Proof(StrEnum):
    """Whether a backup carrying the product's marker is proven the product's by its own
    `opsworks-cm-backup:run` tag (ownership.py): read only for a backup a run would delete."""

    UNCHECKED = "unchecked"
    PROVEN = "proven"
    # The marker and no run tag: made before the product tagged its backups, or typed by hand.
    UNTAGGED = "untagged"
    # The run tag names another run than the marker.
    CONTRADICTED = "contradicted"
    # The tags could not be read: not proven this run.
    UNREAD = "unread"

    @property
    def refused(self) -> bool:
        """Read, and not proven: the backup is never deleted on the product's ownership."""
        return self not in (Proof.UNCHECKED, Proof.PROVEN)


class Outcome(StrEnum):
    STARTED = "STARTED"
    PLANNED = "PLANNED"
    SKIPPED = "SKIPPED"
    # Busy now; tried again later in the slot (a scheduled run's retry window).
    RETRYING = "RETRYING"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Server:
    name: str
    status: str
    arn: str = ""
    engine: str = ""
    # When the server was created; None when unknown, and then no backup is provably its own.
    created_at: datetime | None = None
    tags: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    # Why the server's tags could not be read (None when they were): it fails alone.
    tags_error: str | None = None
    # The server as DescribeServers gave it (what a restore drill copies its configuration from).
    described: Mapping[str, Any] = field(
        default_factory=dict, hash=False, compare=False, repr=False
    )


@dataclass(frozen=True)
class Backup:
    backup_id: str
    server_name: str
    backup_type: str  # AUTOMATED | MANUAL
    status: str  # IN_PROGRESS | OK | FAILED | DELETING
    created_at: datetime
    description: str = ""
    engine: str = ""
    # The service's words about the status, for example why a backup FAILED.
    status_description: str = ""
    arn: str = ""
    # Whether its tags prove it the product's (safety rule 3), and why not when they do not.
    proof: Proof = Proof.UNCHECKED
    proof_reason: str = ""

    @property
    def is_manual(self) -> bool:
        return self.backup_type == "MANUAL"

    @property
    def mark(self) -> marker.Mark | None:
        """The product's marker; None when the product did not make the backup."""
        return marker.parse(self.description) if self.is_manual else None

    @property
    def run_id(self) -> str | None:
        """The run of this product that made the backup; None when the product did not."""
        mark = self.mark
        return mark.run if mark else None

    @property
    def tier(self) -> Tier:
        """The backup's tier as its marker says (a backup without one is daily)."""
        mark = self.mark
        return mark.tier if mark else Tier.DAILY

    @property
    def is_own(self) -> bool:
        return self.run_id is not None

    @property
    def counts_toward_limit(self) -> bool:
        return self.is_manual and self.status in COUNTED_STATES

    def made_while(self, server: Server) -> bool:
        """Whether this backup was made of `server` itself, not of an earlier server of the same
        name: same name and engine, created at or after the server was (safety rule 11)."""
        return (
            self.server_name == server.name
            and server.created_at is not None
            and self.created_at >= server.created_at
            and bool(server.engine)
            and self.engine == server.engine
        )


@dataclass(frozen=True)
class Quota:
    used: int
    maximum: int

    @property
    def headroom(self) -> int:
        return max(0, self.maximum - self.used)
