"""Restore drills, decided: which servers are due, which can start, from which backup. (pure)

A drill restores a server's newest good manual backup into a temporary server (CreateServer with
BackupId and the source's configuration), measures how long that server takes to be HEALTHY,
and deletes it. The drill state machine (infra/drill.py) runs one; a scheduled run starts them
(drill_runner.py) and `owcm-backup drill` runs one now (cli/drill.py). The decisions they
share are functions here and in drill_servers.py (the temporary server), of data they read.

Never harm the account: a drill takes a server slot only when one stays free for the operator,
never runs twice for the same server at once, never starts while its server is busy, never
restores a backup the same run is deleting, and its temporary server is marked by its tags (and
its name) so that a later run finds it and deletes it if the drill could not.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from backup_orchestrator.domain.drill_servers import (
    COPIED,
    Start,
    execution_name,
    is_drill_server,
    server_name,
)
from backup_orchestrator.domain.records import BACKUP_ALLOWED_STATES, GONE, Backup, Quota, Server

FREQUENCY_TAG = "opsworks-cm-backup:restore-drill"
# What the drill state machine records when it created nothing (the server stayed busy, or no
# slot was free when it was time): not a drill, so the server is due again at the next run.
NOT_RUN = "SKIPPED"


class Frequency(StrEnum):
    OFF = "off"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


INTERVALS = {Frequency.WEEKLY: timedelta(days=7), Frequency.MONTHLY: timedelta(days=30)}


class DrillError(ValueError):
    """A drill asked for by name cannot be run as asked; the message names the field."""


@dataclass(frozen=True)
class LastDrill:
    """A server's last drill, as the drill state machine recorded it in the history table."""

    result: str
    started_at: datetime
    # Time to HEALTHY (the measured recovery time); None unless the drill got there.
    seconds: int | None = None
    backup_id: str = ""
    # The backup's age when the drill started: the recovery point it proved.
    backup_age_seconds: int | None = None
    drill_server: str = ""
    cleanup_confirmed: bool | None = None
    reason: str = ""


@dataclass(frozen=True)
class Skip:
    source: str
    reason: str


@dataclass(frozen=True)
class Plan:
    starts: list[Start]
    skips: list[Skip]


@dataclass(frozen=True)
class Roles:
    """The roles the drill may pass to OpsWorks CM (None: whatever the source uses)."""

    service_role_arn: str | None = None
    instance_profile_arn: str | None = None


def frequency(server: Server, default: Frequency) -> tuple[Frequency, str | None]:
    """The server's drill frequency: its tag, else `default`. A tag that is not `weekly`,
    `monthly` or `off` turns drills off for the server, with the problem to report."""
    raw = server.tags.get(FREQUENCY_TAG)
    if raw is None:
        return default, None
    try:
        return Frequency(raw), None
    except ValueError:
        return Frequency.OFF, (
            f"its tag {FREQUENCY_TAG}={raw!r} is not weekly, monthly or off, so it is not "
            "drilled; fix the tag"
        )


def next_due(every: Frequency, last: LastDrill | None) -> datetime | None:
    """When a server drilled `every` week or month is next due; None when it is due at once (it
    has never had a drill, or its last one created nothing)."""
    if last is None or last.result == NOT_RUN:
        return None
    return last.started_at + INTERVALS[every]


def restorable(
    server: Server, backups: Sequence[Backup], going: Collection[str]
) -> tuple[Backup | None, str | None]:
    """The backup a drill of `server` restores: its newest OK manual backup made while it
    existed that is not being deleted (`going`); else None and why."""
    good = [b for b in backups if b.made_while(server) and b.is_manual and b.status == "OK"]
    kept = [b for b in good if b.backup_id not in going]
    if not good:
        return None, "it has no good (OK) manual backup to restore"
    if not kept:
        return None, (
            "every good manual backup of it is being deleted by this run's retention (a server "
            "kept at retain 1 replaces its only one every run); a drill never restores a backup "
            "that is going"
        )
    return max(kept, key=lambda b: (b.created_at, b.backup_id)), None


def _readiness(server: Server, roles: Roles) -> str | None:
    """Why `server` cannot be drilled now (its state, its description, its roles), or None."""
    if server.status not in BACKUP_ALLOWED_STATES:
        return (
            f"the server is {server.status}; a drill starts only when it is RUNNING, HEALTHY or "
            "UNHEALTHY (the next run tries again)"
        )
    missing = [key for key in COPIED if server.described.get(key) is None]
    if missing:
        return f"DescribeServers does not give its {', '.join(missing)}, which a drill copies"
    for key, allowed, context in (
        ("ServiceRoleArn", roles.service_role_arn, "drillServiceRoleArn"),
        ("InstanceProfileArn", roles.instance_profile_arn, "drillInstanceProfileArn"),
    ):
        used = server.described[key]
        if allowed is not None and used != allowed:
            return (
                f"it uses {key} {used}, and the drill may pass only {allowed} (context key "
                f"{context})"
            )
    return None


def drilled_every(
    server: Server, select_tag: tuple[str, str], default: Frequency
) -> Frequency | str | None:
    """How often a scheduled run drills `server`: None for never (not selected, a drill server
    itself, gone, or drills off), else its frequency, or why that cannot be told (its tags were
    not readable while drills are on by default, or its tag is not a frequency)."""
    if server.status == GONE or is_drill_server(server):
        return None
    if server.tags_error is not None:
        return (
            None
            if default is Frequency.OFF
            else f"its tags could not be read ({server.tags_error})"
        )
    key, value = select_tag
    if server.tags.get(key) != value:
        return None
    every, problem = frequency(server, default)
    if problem is not None:
        return problem
    return None if every is Frequency.OFF else every


def wanted(servers: Sequence[Server], select_tag: tuple[str, str], default: Frequency) -> bool:
    """Whether a scheduled run may drill any of `servers` (only then does it read the history
    and the server limit to plan)."""
    return any(drilled_every(s, select_tag, default) is not None for s in servers)


def _chosen(
    server: Server, backups: Sequence[Backup], going: Collection[str], backup_id: str | None
) -> Backup | str:
    """The backup a drill of `server` restores (`backup_id` when asked for), or why none."""
    if backup_id is not None:
        return next(b for b in backups if b.backup_id == backup_id)
    backup, why = restorable(server, backups, going)
    return backup if backup is not None else str(why)


def check_named(
    servers: Sequence[Server],
    backups: Sequence[Backup],
    names: Sequence[str],
    backup_id: str | None,
) -> None:
    """Raises DrillError, naming the option, when a drill asked for by name cannot be planned:
    a server that does not exist or is itself a drill server, or a backup that is not an OK
    backup of the one server named."""
    known = {s.name: s for s in servers}
    missing = [name for name in names if name not in known]
    if missing:
        raise DrillError(f"--servers: no OpsWorks CM server named {', '.join(map(repr, missing))}")
    drills = [name for name in names if is_drill_server(known[name])]
    if drills:
        raise DrillError(f"--servers: {drills[0]!r} is a restore drill's temporary server")
    if backup_id is None:
        return
    if len(names) != 1:
        raise DrillError("--backup-id: name exactly one server with it")
    backup = next((b for b in backups if b.backup_id == backup_id), None)
    if backup is None or not backup.made_while(known[names[0]]):
        raise DrillError(
            f"--backup-id: {backup_id!r} is not a backup of {names[0]} (made while it existed)"
        )
    if backup.status != "OK":
        raise DrillError(f"--backup-id: {backup_id} is {backup.status}; only OK backups restore")


def plan(
    servers: Sequence[Server],
    backups: Sequence[Backup],
    *,
    now: datetime,
    run_id: str,
    select_tag: tuple[str, str],
    default: Frequency,
    last: Mapping[str, LastDrill],
    running: Mapping[str, str],
    quota: Quota,
    going: Collection[str] = (),
    roles: Roles = Roles(),
    named: Collection[str] | None = None,
    backup_id: str | None = None,
) -> Plan:
    """The drills to start now and the due ones that cannot start, with the reasons.

    A scheduled run drills the selected servers that are due (their tag, else `default`; never
    a drill server), most overdue first. `named` drills those servers now, due or not, from
    `backup_id` when given (see `check_named`). `running` maps a server to the drill of it that
    is still under way. `quota` is the account's server limit: a drill starts only while one
    server slot stays free for the operator after it.
    """
    due: list[tuple[datetime | None, Server, Backup]] = []
    skips: list[Skip] = []
    for server in sorted(servers, key=lambda s: s.name):
        when: datetime | None = None
        if named is not None:
            if server.name not in named:
                continue
        else:
            every = drilled_every(server, select_tag, default)
            if every is None:
                continue
            # A Frequency is a str too: anything else is the reason it cannot be told.
            if not isinstance(every, Frequency):
                skips.append(Skip(server.name, every))
                continue
            when = next_due(every, last.get(server.name))
            if when is not None and when > now:
                continue
        why = (
            f"a drill of it is still running ({running[server.name]})"
            if server.name in running
            else _readiness(server, roles)
        )
        chosen = why if why is not None else _chosen(server, backups, going, backup_id)
        if isinstance(chosen, str):
            skips.append(Skip(server.name, chosen))
            continue
        due.append((when, server, chosen))
    # Never drilled first, then the longest overdue; by name for a stable order.
    due.sort(key=lambda d: (d[0] is not None, d[0] or now, d[1].name))
    free = max(0, quota.maximum - quota.used - 1)
    starts = [
        Start(server, backup, server_name(server.name, run_id), execution_name(run_id, server.name))
        for _, server, backup in due[:free]
    ]
    taken = f", {len(starts)} taken by the drills started now" if starts else ""
    skips += [
        Skip(
            server.name,
            f"no free server slot ({quota.used} of {quota.maximum} used{taken}; one is kept "
            "free for you)",
        )
        for _, server, _ in due[free:]
    ]
    return Plan(starts, sorted(skips, key=lambda s: s.source))
