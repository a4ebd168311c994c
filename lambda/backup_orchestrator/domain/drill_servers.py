"""A restore drill's temporary server: its name, its tags, what it is created with, and how a
later run finds it again. (pure)

The server is named `drill-<source>-<suffix>` and tagged with the server it restores, the backup,
when its drill is over at the latest and the execution running it: a later run tells a drill
under way from a leftover to delete by them. It copies the source's configuration from
DescribeServers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from backup_orchestrator.domain.records import GONE, Backup, Server

# The tags of a drill's temporary server (never the selection tag: it is never backed up).
DRILL_OF = "opsworks-cm-backup:drill-of"
DRILL_BACKUP = "opsworks-cm-backup:drill-backup"
DRILL_EXPIRES = "opsworks-cm-backup:drill-expires"
DRILL_EXECUTION = "opsworks-cm-backup:drill-execution"
NAME_PREFIX = "drill-"
# ServerName in the API model: [a-zA-Z][a-zA-Z0-9\-]*, at most 40 characters.
NAME_MAX = 40
SUFFIX_LENGTH = 6
# How long a drill waits at most for its deleted server to be gone (the service deletes the
# server's CloudFormation stack with it, which takes minutes): an hour, or the drill's deadline
# when that is shorter (see cleanup_seconds).
CLEANUP_SECONDS = 3600
# The drill state machine's own limit, beyond the waits it counts, for the calls between them.
CALLS_SECONDS = 900
# A drill server counts as left over this long after its drill should have ended at the latest.
EXPIRY_MARGIN = timedelta(minutes=30)
# The history table forgets a server's last drill after this long (monthly drills need a year).
KEEP_SECONDS = 400 * 86_400

# What CreateServer gets from the source's DescribeServers. Not CustomDomain, CustomCertificate
# or CustomPrivateKey: the drill would answer for the source's domain. KeyPair only when set.
COPIED = (
    "Engine",
    "EngineModel",
    "EngineVersion",
    "InstanceType",
    "InstanceProfileArn",
    "ServiceRoleArn",
    "SubnetIds",
    "SecurityGroupIds",
    "PreferredMaintenanceWindow",
    "PreferredBackupWindow",
    "AssociatePublicIpAddress",
    "BackupRetentionCount",
)
OPTIONAL = ("KeyPair",)
# The drill-expires tag's time, in UTC.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# An execution named by `execution_name`: a run id of this product (marker.py), then the server.
_EXECUTION = re.compile(
    r"(?:scheduled-\d{8}T\d{6}Z|manual-[A-Za-z0-9]{1,32})-(?P<source>[a-zA-Z][a-zA-Z0-9-]{0,39})",
    re.ASCII,
)


@dataclass(frozen=True)
class Start:
    """A drill to start: restore `backup` of `source` into a server named `drill_server`."""

    source: Server
    backup: Backup
    drill_server: str
    execution: str


@dataclass(frozen=True)
class Leftover:
    """A drill server to delete: its drill should be over and it is still there."""

    server: Server
    source: str
    reason: str


def server_name(source: str, run_id: str) -> str:
    """The drill server's name: `drill-<source, cut short>-<6 hex digits of the run and the
    source>`: valid for OpsWorks CM, plainly a drill, and the same for a retried run."""
    digest = hashlib.sha256(f"{run_id}|{source}".encode()).hexdigest()[:SUFFIX_LENGTH]
    room = NAME_MAX - len(NAME_PREFIX) - 1 - SUFFIX_LENGTH
    return f"{NAME_PREFIX}{source[:room]}-{digest}"


def execution_name(run_id: str, source: str) -> str:
    """The drill execution's name: the run and the source server (at most 80 characters of
    [A-Za-z0-9_-], as Step Functions asks), so a retried run cannot start it twice."""
    return f"{run_id}-{source}"


def source_of(execution: str) -> str | None:
    """The server an execution named by `execution_name` drills; None for any other name."""
    match = _EXECUTION.fullmatch(execution)
    return match.group("source") if match else None


def is_drill_server(server: Server) -> bool:
    """A drill's temporary server: never selected for backups, never judged for compliance."""
    return DRILL_OF in server.tags


def cleanup_seconds(deadline_seconds: int) -> int:
    """How long a drill waits at most for its deleted server to be gone."""
    return min(CLEANUP_SECONDS, deadline_seconds)


def execution_seconds(deadline_seconds: int) -> int:
    """The drill state machine's own time limit: the wait for the source to be idle and the
    restore (each up to the deadline), the cleanup, and the calls between."""
    return 2 * deadline_seconds + cleanup_seconds(deadline_seconds) + CALLS_SECONDS


def expires_at(started: datetime, deadline_seconds: int) -> datetime:
    """When a drill started at `started` is over at the latest: its server is a leftover then."""
    return started + timedelta(seconds=execution_seconds(deadline_seconds)) + EXPIRY_MARGIN


def _tag_time(when: datetime) -> str:
    return f"{when.astimezone(UTC):{TIME_FORMAT}}"


def create_parameters(
    start: Start, *, expires: datetime, execution_arn: str | None = None
) -> dict[str, Any]:
    """CreateServer's parameters for a drill: the source's configuration, the backup, no
    automated backups of its own, and the tags that mark it as a drill (which server it
    restores, from which backup, when it is over at the latest, and the execution running it)."""
    described = start.source.described
    parameters: dict[str, Any] = {key: described[key] for key in COPIED}
    parameters.update({key: described[key] for key in OPTIONAL if described.get(key)})
    tags = {
        DRILL_OF: start.source.name,
        DRILL_BACKUP: start.backup.backup_id,
        DRILL_EXPIRES: _tag_time(expires),
    }
    if execution_arn is not None:
        tags[DRILL_EXECUTION] = execution_arn
    parameters.update(
        ServerName=start.drill_server,
        BackupId=start.backup.backup_id,
        DisableAutomatedBackup=True,
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
    )
    return parameters


def execution_input(
    start: Start,
    *,
    run_id: str,
    now: datetime,
    poll_seconds: int,
    deadline_seconds: int,
    execution_arn: str | None = None,
) -> dict[str, Any]:
    """What the drill state machine is started with (infra/drill.py reads it)."""
    return {
        "runId": run_id,
        "startedAt": now.astimezone(UTC).isoformat(),
        "sourceServer": start.source.name,
        "drillServer": start.drill_server,
        "backupId": start.backup.backup_id,
        # The recovery point the drill proves: how old the restored backup is.
        "backupAgeSeconds": int((now - start.backup.created_at).total_seconds()),
        "pollSeconds": poll_seconds,
        "deadlineSeconds": deadline_seconds,
        "cleanupSeconds": cleanup_seconds(deadline_seconds),
        # The history item's expiry (the table's TTL attribute).
        "expiration": int(now.timestamp()) + KEEP_SECONDS,
        "create": create_parameters(
            start, expires=expires_at(now, deadline_seconds), execution_arn=execution_arn
        ),
    }


def leftovers(
    servers: Sequence[Server],
    now: datetime,
    *,
    machine: str | None = None,
    running_executions: Collection[str] | None = None,
) -> list[Leftover]:
    """Drill servers whose drill is over and that are still there: past their drill-expires
    time (or without a readable one), or made by an execution of the state machine `machine`
    (its executions' ARN prefix) that is not among `running_executions` (ARNs; None: unknown).

    Only a server named like a drill server and tagged with the server it restores is one; a
    server the service is deleting already is not.
    """
    found = []
    for server in servers:
        source = server.tags.get(DRILL_OF)
        if (
            source is None
            or not server.name.startswith(NAME_PREFIX)
            or server.status in ("DELETING", GONE)
        ):
            continue
        raw = server.tags.get(DRILL_EXPIRES, "")
        execution = server.tags.get(DRILL_EXECUTION, "")
        try:
            expires = datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            why = f"its tag {DRILL_EXPIRES}={raw!r} is not a time, so its drill cannot be running"
        else:
            if now >= expires:
                why = f"its drill should have ended by {expires:%Y-%m-%d %H:%M} UTC"
            elif (
                machine is not None
                and running_executions is not None
                and execution.startswith(machine)
                and execution not in running_executions
            ):
                why = f"its drill (execution {execution.removeprefix(machine)}) has ended"
            else:
                continue
        found.append(Leftover(server, source, why))
    return found


def running(
    servers: Sequence[Server], executions: Collection[str], left: Collection[str] = ()
) -> dict[str, str]:
    """The servers a drill is under way for, and that drill: a running drill execution (ARNs
    in `executions`) named after them, or a drill server of theirs that is neither being
    deleted nor a leftover (names in `left`)."""
    found: dict[str, str] = {}
    for arn in executions:
        name = arn.rsplit(":", 1)[-1]
        source = source_of(name)
        if source is not None:
            found[source] = f"execution {name}"
    for server in servers:
        source = server.tags.get(DRILL_OF)
        if source and server.status not in ("DELETING", GONE) and server.name not in left:
            found.setdefault(source, f"drill server {server.name}")
    return found
