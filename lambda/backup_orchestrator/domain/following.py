"""What one poll of the tracker decides about a run's backups. (pure)

The tracker state machine (infra/constructs/tracker.py) keeps the loop: it waits, asks its
function to poll, and publishes the alert. The function (run/follow.py) reads the account once
per poll (DescribeBackups, no filter) and this module decides, per backup still followed:

- OK: its deferred deletions are due (safety rule 5: never before the new backup is OK); once
  they are all tried it ends OK, or OK with a retention problem when the service refused some;
- FAILED: the service says FAILED, or DELETING (deleted by a person while followed), or a state
  the tracker does not know; the reason is the service's StatusDescription;
- VANISHED: the account's answer no longer lists it (it, or its server, was deleted);
- TIMED_OUT: still IN_PROGRESS when the tracker's clock reaches the deadline (time is counted
  in polls, pollSeconds each after the first wait, like the waits themselves: the execution's
  polls are known in advance, which is what its history is planned with);
- still IN_PROGRESS: followed at the next poll.

Every backup that does not end OK keeps the old backups it would have replaced. The state is
JSON (the state machine carries it from poll to poll) and stays small: a finished backup keeps
its outcome and one line for a person, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backup_orchestrator.domain import messages
from backup_orchestrator.domain.records import Backup

OK, FAILED, TIMED_OUT, VANISHED = "OK", "FAILED", "TIMED_OUT", "VANISHED"
# The service's words for a backup, when it gives none (StatusDescription is optional).
NO_REASON = "no reason given"
# The service's words are cut to this many bytes of JSON in a line (a state must stay under
# 256 KiB, and a character outside ASCII takes up to 6 bytes there).
REASON_BYTES = 250
SUBJECT = "OpsWorks CM backup needs attention"
CLOSING = (
    "Each backup that needs attention says what to do. One that did not end OK kept the old "
    "backups it would have replaced. Tracker execution: {}"
)
LINES = {
    OK: "{server}: backup {backup} is OK.",
    "RETENTION": (
        "{server}: backup {backup} is OK, but {count} of the old backups it replaces could not "
        "be deleted, first {first}. They stay and count toward the manual-backup limit of the "
        "account. To do: nothing, the next run tries again; or delete them by hand (aws "
        "opsworkscm delete-backup --backup-id ID)."
    ),
    FAILED: (
        '{server}: backup {backup} ended {status} (OpsWorks CM: "{said}"). Its old backups were '
        "kept. To do: read the server events (aws opsworkscm describe-events --server-name "
        "{server}), fix the cause, then back it up again (owcm-backup run --servers {server}, "
        "or invoke the function with the server named in servers)."
    ),
    TIMED_OUT: (
        "{server}: backup {backup} was still IN_PROGRESS after {seconds} seconds, its deadline. "
        "Its old backups were kept. To do: check it (aws opsworkscm describe-backups "
        "--backup-id {backup}); if it ends OK the next run applies retention, if not back the "
        "server up again."
    ),
    VANISHED: (
        "{server}: backup {backup} no longer exists (it, or its server, was deleted). Its old "
        "backups were kept. To do: check the server (aws opsworkscm describe-servers "
        "--server-name {server}) and back it up again if it is still there."
    ),
}
# Why a deletion was not tried: the execution's last poll came first.
OUT_OF_POLLS = "not tried: the tracker's last poll came first"


@dataclass
class Followed:
    """One backup the tracker follows: its deferred deletions still to try, and once it is OK
    how old it was then and which deletions the service refused."""

    server_name: str
    backup_id: str
    deferred: list[str]
    ok_after: int | None = None
    # How many of its deletions the service refused, and the first of them with its reason.
    refused: int = 0
    first_refused: str = ""

    def refuse(self, backup_id: str, reason: str) -> None:
        if not self.refused:
            self.first_refused = f"{backup_id} ({cut(reason)})"
        self.refused += 1

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Followed:
        return cls(
            server_name=str(data["serverName"]),
            backup_id=str(data["backupId"]),
            deferred=[str(d) for d in data.get("deferredDeletes", [])],
            ok_after=data.get("okAfterSeconds"),
            refused=int(data.get("refused", 0)),
            first_refused=str(data.get("firstRefused", "")),
        )

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "serverName": self.server_name,
            "backupId": self.backup_id,
            "deferredDeletes": self.deferred,
        }
        if self.ok_after is not None:
            data["okAfterSeconds"] = self.ok_after
            data["refused"] = self.refused
            data["firstRefused"] = self.first_refused
        return data


@dataclass(frozen=True)
class Result:
    """How following one backup ended: its outcome, its age then, and a line for a person."""

    server_name: str
    backup_id: str
    outcome: str
    seconds: int
    line: str
    retention_problem: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "serverName": self.server_name,
            "backupId": self.backup_id,
            "outcome": self.outcome,
            "ok": self.outcome == OK,
            "retentionProblem": self.retention_problem,
            "elapsedSeconds": self.seconds,
        }


def cut(words: str) -> str:
    """`words`, cut (with "...") to at most REASON_BYTES bytes of JSON."""
    return messages.cut(words, REASON_BYTES)


def _said(backup: Backup) -> str:
    return cut(backup.status_description or NO_REASON)


def _ended(item: Followed, outcome: str, seconds: int, **words: object) -> Result:
    line = LINES[outcome].format(
        server=item.server_name, backup=item.backup_id, seconds=seconds, **words
    )
    return Result(item.server_name, item.backup_id, outcome, seconds, line)


def elapsed(first_wait: int, poll_seconds: int, polls: int) -> int:
    """The tracker's clock at its `polls`-th poll: the first wait, then pollSeconds a poll."""
    return first_wait + (polls - 1) * poll_seconds


def judge(
    item: Followed, listed: Mapping[str, Backup], seconds: int, deadline_seconds: int
) -> Result | None:
    """What this poll's account answer says, `seconds` into the following, about a backup not
    yet seen OK: its end, or None while it is still IN_PROGRESS before its deadline (and when it
    turned OK: `item` is marked OK, its deletions are due)."""
    backup = listed.get(item.backup_id)
    if backup is None:
        return _ended(item, VANISHED, seconds)
    if backup.status == "OK":
        item.ok_after = seconds
        return None
    if backup.status == "IN_PROGRESS":
        if seconds >= deadline_seconds:
            return _ended(item, TIMED_OUT, seconds)
        return None
    return _ended(item, FAILED, seconds, status=backup.status, said=_said(backup))


def settle(item: Followed, *, last_poll: bool) -> Result | None:
    """The end of a backup seen OK, once its deletions are all tried (or the execution's last
    poll came before some were): OK, or OK with a retention problem."""
    assert item.ok_after is not None
    if item.deferred and not last_poll:
        return None
    for backup_id in list(item.deferred):
        item.refuse(backup_id, OUT_OF_POLLS)
    item.deferred = []
    if not item.refused:
        return _ended(item, OK, item.ok_after)
    line = LINES["RETENTION"].format(
        server=item.server_name,
        backup=item.backup_id,
        count=item.refused,
        first=item.first_refused,
    )
    return Result(item.server_name, item.backup_id, OK, item.ok_after, line, True)


def still_running(item: Followed, seconds: int) -> Result:
    """The end of a backup still IN_PROGRESS at the execution's last poll: it missed its
    deadline, whatever the clock says."""
    return _ended(item, TIMED_OUT, seconds)


def needs_attention(results: list[Mapping[str, Any]]) -> tuple[bool, bool]:
    """(any backup did not end OK, any retention problem) among the results."""
    failed = any(not r["ok"] for r in results)
    return failed, any(r["retentionProblem"] for r in results)


def alert(run_id: str, report: str, execution: str) -> dict[str, str]:
    """The one alert of a run: every backup's line (`report`, each line after a line break),
    then what to do."""
    message = f"OpsWorks CM backup run {run_id} needs attention.\n{report}\n\n" + CLOSING.format(
        execution
    )
    return {"subject": SUBJECT, "message": message}
