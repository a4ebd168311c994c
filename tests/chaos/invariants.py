"""What no fault may break: one checker, called by every chaos case.

`capture` takes the emulated account's state (servers, backups, the call log and what every
DeleteBackup was aimed at); `check_invariants` compares the state before and after a scenario with
the reports of the runs in it. Each rule it checks names the safety rule it stands for
(docs/safety-rules.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from backup_orchestrator.contract.settings import get_settings
from local.emulator import Call, Emulator
from local.emulator.faults import BackupRecord, DeletionWitness

# The product's mark on its own backups, spelled out here rather than imported, so a change to the
# product's marker shows up as a failing rule instead of silently moving the goalposts.
OWN_PREFIX = "[opsworks-cm-backup run="
OWN = re.compile(
    r"\[opsworks-cm-backup run=(scheduled-\d{8}T\d{6}Z|manual-[A-Za-z0-9]{1,32})"
    r"( tier=(daily|weekly|monthly))?\]( [^\n]+)?"
)
# ...and proven by the backup's own tag naming the same run (ownership proven twice).
RUN_TAG = "opsworks-cm-backup:run"
ALLOWED_STATES = frozenset({"RUNNING", "HEALTHY", "UNHEALTHY"})
OUTCOMES = frozenset({"STARTED", "SKIPPED", "FAILED", "RETRYING"})


@dataclass(frozen=True)
class ServerRecord:
    name: str
    status: str
    tags: dict[str, str]
    created_at: datetime
    engine: str


@dataclass(frozen=True)
class AccountState:
    """The emulated account at one moment, with everything it had been asked until then."""

    servers: dict[str, ServerRecord]
    backups: dict[str, BackupRecord]
    calls: tuple[Call, ...]
    delete_attempts: tuple[tuple[str, BackupRecord | None], ...]


@dataclass(frozen=True)
class Run:
    """One invocation: the event it got and the report it returned."""

    event: dict[str, Any]
    report: dict[str, Any]


def witness_of(emulator: Emulator) -> DeletionWitness:
    for fault in emulator.faults:
        if isinstance(fault, DeletionWitness):
            return fault
    raise AssertionError("install a DeletionWitness first in emulator.faults (tests/chaos does)")


def capture(emulator: Emulator) -> AccountState:
    """The account as a caller would see it now (time-driven changes applied)."""
    backend = emulator.backend
    with backend.lock:
        backend.settle()
        servers = {
            name: ServerRecord(
                name, server.status, dict(server.tags), server.created_at, server.engine
            )
            for name, server in backend.servers.items()
        }
        backups = {bid: BackupRecord.of(backup) for bid, backup in backend.backups.items()}
    return AccountState(
        servers=servers,
        backups=backups,
        calls=tuple(emulator.calls),
        delete_attempts=tuple(witness_of(emulator).attempts),
    )


def _newest_ok_manual(backups: Sequence[BackupRecord]) -> BackupRecord | None:
    ok = [b for b in backups if b.backup_type == "MANUAL" and b.status == "OK"]
    return max(ok, key=lambda b: (b.created_at, b.backup_id), default=None)


def _is_own(backup: BackupRecord) -> bool:
    return backup.backup_type == "MANUAL" and OWN.fullmatch(backup.description) is not None


def _proven_own(backup: BackupRecord) -> bool:
    """The marker, and the backup's own run tag naming the marker's run."""
    mark = OWN.fullmatch(backup.description)
    return (
        backup.backup_type == "MANUAL"
        and mark is not None
        and backup.tags.get(RUN_TAG) == mark.group(1)
    )


def _of_current_server(state: AccountState, backup: BackupRecord) -> bool:
    """Rule 11: made while the server that has its name now existed, with the same engine."""
    server = state.servers.get(backup.server_name)
    return (
        server is not None
        and backup.created_at >= server.created_at
        and backup.engine == server.engine
    )


def gone_or_going(state: AccountState, backup_id: str) -> bool:
    backup = state.backups.get(backup_id)
    return backup is None or backup.status == "DELETING"


def check_invariants(before: AccountState, after: AccountState, runs: Sequence[Run]) -> None:
    """Assert the safety rules over a scenario; every broken rule is listed in the failure."""
    problems: list[str] = []
    calls = after.calls[len(before.calls) :]
    attempts = after.delete_attempts[len(before.delete_attempts) :]
    real_runs = [run for run in runs if not run.report.get("dryRun")]

    # Rules 1-3, at the moment of each attempt: never an automated backup, never one in progress,
    # never one this product did not create.
    for backup_id, seen in attempts:
        if seen is None or seen.status == "DELETING":
            continue
        if seen.backup_type != "MANUAL":
            problems.append(f"(a) DeleteBackup aimed at {backup_id}, an {seen.backup_type} backup")
        elif seen.status == "IN_PROGRESS":
            problems.append(f"(a) DeleteBackup aimed at {backup_id} while it was IN_PROGRESS")
        elif not _proven_own(seen):
            problems.append(
                f"(b) DeleteBackup aimed at {backup_id}, not proven the product's "
                f"(description {seen.description!r}, tags {seen.tags!r})"
            )
        elif not _of_current_server(before, seen):
            problems.append(f"(b) DeleteBackup aimed at {backup_id}, a backup of a deleted server")

    # Rules 1-3 again, on the outcome: what was there before and is gone (or going) now.
    deleted: dict[str, BackupRecord] = {}
    attempted = {backup_id for backup_id, _ in attempts}
    for backup_id, old in before.backups.items():
        if not gone_or_going(after, backup_id):
            continue
        if old.backup_type == "AUTOMATED" and backup_id not in attempted:
            continue  # the service's own expiry, or its server was removed
        deleted[backup_id] = old
        if old.backup_type != "MANUAL":
            problems.append(f"(a) {backup_id} ({old.backup_type}) was deleted")
        elif not _proven_own(old):
            problems.append(f"(b) {backup_id} was deleted but is not proven the product's")

    # Rule 4: a server's newest good manual backup survives until a newer one is good.
    for owner in sorted({b.server_name for b in before.backups.values()}):
        newest = _newest_ok_manual([b for b in before.backups.values() if b.server_name == owner])
        if newest is None or not gone_or_going(after, newest.backup_id):
            continue
        newer_ok = [
            b
            for b in after.backups.values()
            if b.server_name == owner
            and b.backup_type == "MANUAL"
            and b.status == "OK"
            and (b.created_at, b.backup_id) > (newest.created_at, newest.backup_id)
        ]
        if not newer_ok:
            problems.append(
                f"(c) {owner} lost its newest OK manual backup {newest.backup_id} and has no "
                "newer OK one"
            )

    # Rule 5: at most one backup per server, by calls that succeeded and by what exists now.
    created = Counter(
        str(c.params["ServerName"]) for c in calls if c.operation == "CreateBackup" and not c.error
    )
    new_backups = {
        bid: b for bid, b in after.backups.items() if bid not in before.backups and _is_own(b)
    }
    new_per_server = Counter(b.server_name for b in new_backups.values())
    for owner in sorted(set(created) | set(new_per_server)):
        if created[owner] > 1 or new_per_server[owner] > 1:
            problems.append(
                f"(d) {owner}: {created[owner]} successful CreateBackup calls, "
                f"{new_per_server[owner]} new backups"
            )

    # Rule 9 and the report's honesty: every selected server that could back up is accounted for.
    key, value = get_settings().select_tag
    for run in runs:
        results = {r["serverName"]: r for r in run.report["results"]}
        named = run.event.get("servers")
        selected = (
            set(named)
            if named is not None
            else {s.name for s in before.servers.values() if s.tags.get(key) == value}
        )
        for name in sorted(selected):
            server = before.servers.get(name)
            if server is None or server.status not in ALLOWED_STATES or name not in after.servers:
                continue
            if name not in results:
                problems.append(f"(e) {run.report['runId']}: {name} is missing from the report")
        for name, result in results.items():
            expected = {"PLANNED", "SKIPPED"} if run.report["dryRun"] else OUTCOMES
            if result["outcome"] not in expected:
                problems.append(f"(e) {name}: outcome {result['outcome']} in {run.report['runId']}")
            if not result.get("reason"):
                problems.append(f"(e) {name}: {result['outcome']} without a reason")
            if result["outcome"] == "STARTED" and not result.get("backupId"):
                problems.append(f"(e) {name}: STARTED without a backupId")
            # Rule 12: RETRYING only with the slot's next try scheduled for it.
            next_try = run.report.get("nextTry") or {}
            if result["outcome"] == "RETRYING" and name not in next_try.get("servers", []):
                problems.append(f"(e) {name}: RETRYING but no next try is scheduled for it")
            # Rule 12: SKIPPED is only for a server that needs nothing this slot.
            needs_nothing = ("no longer exists", "still in progress")
            if result["outcome"] == "SKIPPED" and not any(
                why in result["reason"] for why in needs_nothing
            ):
                problems.append(f"(e) {name}: SKIPPED but it needed a backup: {result['reason']}")

    # The report agrees with the account: what it says started exists, what exists was reported.
    reported: dict[str, str] = {}
    for run in real_runs:
        for result in run.report["results"]:
            if result["outcome"] != "STARTED":
                continue
            backup_id = result["backupId"]
            reported[backup_id] = result["serverName"]
            backup = after.backups.get(backup_id)
            run_marks = (
                f"{OWN_PREFIX}{run.report['runId']}]",
                f"{OWN_PREFIX}{run.report['runId']} tier=",
            )
            if backup is None or backup.status == "DELETING":
                problems.append(f"(f) {backup_id} reported STARTED is gone or going")
            elif backup.server_name != result["serverName"] or not backup.description.startswith(
                run_marks
            ):
                problems.append(f"(f) {backup_id} reported STARTED is not this run's backup")
    for backup_id, backup in sorted(new_backups.items()):
        if backup_id not in reported:
            problems.append(f"(f) new backup {backup_id} of {backup.server_name} is in no report")

    # Nothing deleted that no report asked for; nothing reported deleted that is still there.
    asked: set[str] = set()
    warned = " ".join(w for run in real_runs for r in run.report["results"] for w in r["warnings"])
    for run in real_runs:
        for result in run.report["results"]:
            for deletion in result["deleted"]:
                asked.add(deletion["backupId"])
                if not gone_or_going(after, deletion["backupId"]):
                    problems.append(f"(g) {deletion['backupId']} reported deleted is still there")
            if result["outcome"] == "STARTED":
                asked.update(d["backupId"] for d in result["deferredDeletes"])
            elif result["deferredDeletes"]:
                problems.append(f"(g) {result['serverName']} did not start but defers deletions")
    for backup_id in sorted(deleted):
        if backup_id not in asked and backup_id not in warned:
            problems.append(f"(g) {backup_id} was deleted but no report says so")

    assert not problems, "invariants broken:\n" + "\n".join(problems)


def newest_first(state: AccountState, server: str) -> list[BackupRecord]:
    """A server's backups in `state`, newest first."""
    mine = [b for b in state.backups.values() if b.server_name == server]
    return sorted(mine, key=lambda b: (b.created_at, b.backup_id), reverse=True)
