"""run --wait: follow the run's new backups to the end and, when no tracker does, apply each
one's deferred deletions once it is OK. Ctrl-C stops the waiting, never the backups."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.domain.records import Backup, Outcome

RUNNING = "IN_PROGRESS"
# Not service states: the backup was not there any more, or waiting ended before it did.
VANISHED = "VANISHED"
TIMED_OUT = "TIMED_OUT"


class Done(StrEnum):
    """What became of one deferred deletion."""

    PENDING = "pending"
    DELETED = "deleted"
    ALREADY_GONE = "alreadyGone"
    REFUSED = "refused"
    # Retention waits for a good backup: one that did not end OK keeps the old ones.
    KEPT = "kept"
    NOT_APPLIED = "notApplied"
    BY_TRACKER = "leftToTracker"


@dataclass
class Deletion:
    backup_id: str
    reason: str
    done: Done = Done.PENDING
    error: str = ""


@dataclass
class Followed:
    """One new backup, as far as it has been followed."""

    server_name: str
    backup_id: str
    deletions: list[Deletion]
    status: str = RUNNING
    # The service's words when it did not end OK.
    reason: str = ""
    seconds: float = 0.0

    @property
    def pending(self) -> bool:
        return self.status == RUNNING


@dataclass
class Waited:
    """What waiting found, for the report (`final` in --json)."""

    backups: list[Followed]
    by_tracker: bool
    interrupted: bool = False
    # The last check that failed (the next one may work); empty when the last one worked.
    check_error: str = ""
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def find(self, backup_id: str) -> Followed | None:
        return next((b for b in self.backups if b.backup_id == backup_id), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "interrupted": self.interrupted,
            "backups": [
                {
                    "serverName": b.server_name,
                    "backupId": b.backup_id,
                    "status": b.status,
                    "reason": b.reason,
                    "elapsedSeconds": round(b.seconds),
                    "deletions": [
                        {"backupId": d.backup_id, "done": d.done.value, "error": d.error}
                        for d in b.deletions
                    ],
                }
                for b in self.backups
            ],
        }


class Progress(Protocol):
    """What a person sees while the backups run (see progress.py)."""

    def start(self, waited: Waited, poll: float) -> None: ...

    def update(self, waited: Waited) -> None: ...

    def stop(self, waited: Waited) -> None: ...


def follow(
    service: OpsWorksCM,
    report: dict[str, Any],
    *,
    poll: float,
    timeout: float,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
) -> Waited:
    """Check the run's started backups every `poll` seconds until each has ended or `timeout`
    has passed; apply the deferred deletions of each OK one unless the run handed them to a
    tracker. A check that fails is reported and tried again. Ctrl-C stops the waiting and
    returns what was found (`interrupted`)."""
    waited = Waited(
        backups=[
            Followed(
                r["serverName"],
                r["backupId"],
                [Deletion(d["backupId"], d["reason"]) for d in r["deferredDeletes"]],
            )
            for r in report["results"]
            if r["outcome"] == Outcome.STARTED
        ],
        by_tracker=bool(report.get("trackerExecutionArns") or report.get("trackerExecutionArn")),
    )
    progress.start(waited, poll)
    try:
        while True:
            _check(service, waited)
            progress.update(waited)
            if not any(b.pending for b in waited.backups):
                break
            if waited.elapsed() >= timeout:
                for backup in waited.backups:
                    if backup.pending:
                        backup.status, backup.seconds = TIMED_OUT, waited.elapsed()
                break
            sleep(poll)
    except KeyboardInterrupt:
        waited.interrupted = True
    finally:
        _settle(waited)
        progress.stop(waited)
    return waited


def _check(service: OpsWorksCM, waited: Waited) -> None:
    try:
        found = {b.backup_id: b for b in service.backups()}
    except ERRORS as exc:
        waited.check_error = str(exc)
        return
    waited.check_error = ""
    for followed in waited.backups:
        if not followed.pending:
            continue
        backup = found.get(followed.backup_id)
        if backup is not None and backup.status == RUNNING:
            continue
        followed.seconds = waited.elapsed()
        followed.status = backup.status if backup is not None else VANISHED
        if followed.status == "OK":
            if not waited.by_tracker:
                _delete(service, followed.deletions)
        elif backup is not None:
            followed.reason = _why(service, backup)


def _delete(service: OpsWorksCM, deletions: list[Deletion]) -> None:
    """Each deletion on its own: one the service refuses does not stop the others."""
    for deletion in deletions:
        try:
            gone_now = service.delete_backup(deletion.backup_id)
        except ERRORS as exc:
            deletion.done, deletion.error = Done.REFUSED, str(exc)
            continue
        deletion.done = Done.DELETED if gone_now else Done.ALREADY_GONE


def _why(service: OpsWorksCM, backup: Backup) -> str:
    """The service's reason for a backup that did not end OK: its StatusDescription, and the
    server's latest event since the backup began when it says more."""
    reason = backup.status_description.rstrip(". ")
    try:
        events = service.events(backup.server_name)
    except ERRORS:
        # The events only add detail; the status and its description stand without them.
        return reason
    since: datetime = backup.created_at
    latest = next((e for e in events if e.get("CreatedAt", since) >= since), None)
    message = latest.get("Message", "").rstrip(". ") if latest else ""
    if message and message not in reason:
        reason = f"{reason}; latest server event: {message}" if reason else message
    return reason


def _settle(waited: Waited) -> None:
    """Say what became of the deletions that were not applied here."""
    for followed in waited.backups:
        ended_badly = not followed.pending and followed.status not in ("OK", TIMED_OUT)
        for deletion in followed.deletions:
            if deletion.done is not Done.PENDING:
                continue
            if ended_badly:
                deletion.done = Done.KEPT
            elif waited.by_tracker:
                deletion.done = Done.BY_TRACKER
            else:
                deletion.done = Done.NOT_APPLIED
