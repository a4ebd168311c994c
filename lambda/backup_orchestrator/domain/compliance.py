"""Recovery point objectives: is each protected server's newest good backup young enough? (pure)

A server is compliant when its newest OK backup (manual, made while the server existed; automated
ones too if the setting says so) is younger than its RPO, or when the server itself is younger
than its RPO and simply has not had one yet. A server out of its RPO whose backup this product is
making right now is catching up: not compliant yet, but nothing to alert about (if that backup
fails, the tracker alerts). The RPO is the server's tag
`opsworks-cm-backup:rpo-hours`, else the stack's default (derived from the schedule). A server
that is not compliant says why, from what the account shows and from the last runs' outcomes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from backup_orchestrator.domain import messages
from backup_orchestrator.domain.records import Backup, Server

RPO_TAG = "opsworks-cm-backup:rpo-hours"
RPO_MIN, RPO_MAX = 1, 8760
_RPO_VALUE = re.compile(r"[0-9]{1,4}", re.ASCII)
# How many of the last runs a server's history keeps (and an alert may quote).
REMEMBERED_RUNS = 5


@dataclass(frozen=True)
class RunEntry:
    """What one run did about one server (kept in the history table)."""

    run_id: str
    at: datetime
    outcome: str
    reason: str
    backup_id: str | None = None


@dataclass(frozen=True)
class Compliance:
    server_name: str
    selected: bool
    rpo_hours: int
    newest_ok: Backup | None
    age_seconds: float | None
    compliant: bool
    # One line: how old the newest good backup is against the RPO (or why there is none).
    summary: str
    # The backup this product is making of a server out of its RPO (it is catching up).
    catching_up: str | None = None
    # Why it is not compliant, newest first: what the account shows and what the last runs did.
    reasons: tuple[str, ...] = ()


def resolve_rpo(server: Server, default: int) -> tuple[int, str | None]:
    """The server's RPO in hours: its tag, else `default`. A bad tag value falls back to the
    default, with the problem (compliance is still judged; the backup is not at stake)."""
    raw = server.tags.get(RPO_TAG)
    if raw is None:
        return default, None
    if _RPO_VALUE.fullmatch(raw) and RPO_MIN <= int(raw) <= RPO_MAX:
        return int(raw), None
    return default, (
        f"its tag {RPO_TAG}={raw!r} is not a whole number of hours from {RPO_MIN} to {RPO_MAX} "
        f"written with the digits 0-9, so the default RPO ({default} h) applies"
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def evaluate(
    servers: Sequence[Server],
    selected: set[str],
    backups: Sequence[Backup],
    now: datetime,
    *,
    default_rpo_hours: int,
    count_automated: bool = False,
    history: Mapping[str, Sequence[RunEntry]] | None = None,
    started: Mapping[str, str] | None = None,
) -> list[Compliance]:
    """Judge every server in `servers` (the selected ones, and any the history remembers that is
    no longer selected), in their order. `started` maps a server to the backup a run has just
    started of it (not yet in `backups`)."""
    by_name: dict[str, list[Backup]] = {}
    for backup in backups:
        by_name.setdefault(backup.server_name, []).append(backup)
    judged = []
    for server in servers:
        mine = [b for b in by_name.get(server.name, []) if b.made_while(server)]
        rpo, rpo_problem = resolve_rpo(server, default_rpo_hours)
        good = [b for b in mine if b.status == "OK" and (b.is_manual or count_automated)]
        newest = max(good, key=lambda b: (b.created_at, b.backup_id), default=None)
        limit = rpo * 3600
        if newest is not None:
            age: float | None = (now - newest.created_at).total_seconds()
            assert age is not None
            compliant = age <= limit
            summary = f"newest good backup {_hours(age)} old, RPO {rpo} h"
        else:
            age = None
            existed = (now - server.created_at).total_seconds() if server.created_at else None
            compliant = existed is not None and existed <= limit
            summary = (
                f"no good backup yet; the server is {_hours(existed)} old, within its RPO ({rpo} h)"
                if compliant and existed is not None
                else f"no good backup, RPO {rpo} h"
            )
        running = [b.backup_id for b in mine if b.is_own and b.status == "IN_PROGRESS"]
        making = (started or {}).get(server.name) or (max(running) if running else None)
        reasons: list[str] = []
        if not compliant:
            reasons = _reasons(server, mine, newest, server.name in selected, history)
            if making:
                summary += f"; catching up: backup {making} is in progress"
        if rpo_problem:
            reasons.append(rpo_problem)
        judged.append(
            Compliance(
                server_name=server.name,
                selected=server.name in selected,
                rpo_hours=rpo,
                newest_ok=newest,
                age_seconds=age,
                compliant=compliant,
                summary=summary,
                catching_up=None if compliant else making,
                reasons=tuple(reasons),
            )
        )
    return judged


def _reasons(
    server: Server,
    mine: Sequence[Backup],
    newest_ok: Backup | None,
    selected: bool,
    history: Mapping[str, Sequence[RunEntry]] | None,
) -> list[str]:
    reasons = []
    if not selected:
        reasons.append("not selected any more (its selection tag was removed)")
    failed = [
        b
        for b in mine
        if b.is_own
        and b.status == "FAILED"
        and (newest_ok is None or b.created_at > newest_ok.created_at)
    ]
    if failed:
        last = max(failed, key=lambda b: (b.created_at, b.backup_id))
        reasons.append(
            f"{len(failed)} backup(s) since the last good one ended FAILED, the latest "
            f"{last.backup_id}"
        )
    for entry in (history or {}).get(server.name, ()):
        if entry.outcome in ("FAILED", "RETRYING"):
            reasons.append(f"run {entry.run_id}: {entry.reason}")
    return reasons


def outside(judged: Sequence[Compliance]) -> list[Compliance]:
    """The servers out of their RPO with no backup of theirs under way: what alerts and what
    the NonCompliantServers metric counts."""
    return [c for c in judged if not c.compliant and c.catching_up is None]


def alert(judged: Sequence[Compliance], now: datetime) -> tuple[str, str] | None:
    """The subject and text of an alert naming every server out of its RPO (as many as one SNS
    message holds, then how many more and where to see them); None when all are within it."""
    late = outside(judged)
    if not late:
        return None
    head = [
        f"{len(late)} OpsWorks CM server(s) have no good backup within their recovery point "
        f"objective (checked {now:%Y-%m-%d %H:%M} UTC):",
        "",
    ]
    blocks = []
    for c in late:
        newest = (
            f"newest good backup {c.newest_ok.backup_id}, made "
            f"{c.newest_ok.created_at:%Y-%m-%d %H:%M} UTC"
            if c.newest_ok
            else "no good backup"
        )
        blocks.append(
            [
                f"- {c.server_name}: {c.summary} ({newest}).",
                *(f"    {messages.cut(reason, messages.REASON_BYTES)}" for reason in c.reasons),
            ]
        )
    tail = [
        "",
        "What to do: see the reasons above. For room, delete old manual backups or raise the "
        "limit; for a busy or failing server, check its events (aws opsworkscm describe-events "
        "--server-name NAME); then back the server up by invoking the orchestrator function "
        'with {"servers": ["NAME"]}. `owcm-backup status` shows every server\'s compliance.',
    ]
    subject = f"OpsWorks CM backup: {len(late)} server(s) outside their RPO"
    return subject, messages.bounded(head, blocks, tail, more=_more)


def _more(left: int) -> str:
    return (
        f"... and {left} more server(s) outside their RPO, not listed here (one alert holds "
        "256 KiB): `owcm-backup status` shows them all, and the orchestrator function's log has "
        'a "server outcome" line for each server this run was about ("compliant": false).'
    )
