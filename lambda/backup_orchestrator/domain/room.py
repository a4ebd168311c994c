"""Room under the manual-backup limit that is on its way, and the servers waiting for it. (pure)

Deleting a backup is asynchronous, and the API reference does not say whether the service still
counts a backup toward the account's limit while it is `DELETING` (safety rule 14); nor how long
a deletion takes. Under the reading where it counts, the room a run makes by deleting arrives
only when the deletion ends, which may be minutes later: a scheduled run whose budget for waiting
ends first leaves the server RETRYING in its slot (`after_waiting`), and names it in the slot's
next try as waiting for room. That try counts the deletions still on their way as that server's
room (`usable`): it deletes nothing more for it, and no other server is planned on that room.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backup_orchestrator.domain.records import Backup, Outcome, Quota


def in_flight(backups: Sequence[Backup], quota: Quota) -> int:
    """How many manual backups being deleted the service still counts toward the limit: room on
    its way. The service's count less the manual backups that count under either reading (at
    most the `DELETING` ones): 0 where a backup being deleted frees its slot at once."""
    deleting = sum(1 for b in backups if b.is_manual and b.status == "DELETING")
    counted = sum(1 for b in backups if b.counts_toward_limit)
    return max(0, min(deleting, quota.used - counted))


@dataclass(frozen=True)
class Room:
    """The limit as a run may use it, and how much of it is still being freed."""

    # The quota the plan shares: the service's, with the room on its way to the servers waiting
    # for it counted free (they take it first), and the room held for those busy again counted
    # used (nobody else takes it while they are).
    quota: Quota
    # Deletions still on their way that the plan counts as room (they must be waited for).
    coming: int
    # Slots held for servers waiting for room that are busy again (RETRYING once more).
    held: int


def usable(quota: Quota, in_flight: int, *, waiting: int, held: int) -> Room:
    """The room a run may plan with, when `waiting` of its servers wait for room made for them
    earlier in the slot (each is owed one slot) and `held` more of them are busy again.

    Their slots come first from the deletions still on their way (`in_flight`), then from the
    free room; room on its way beyond what they are owed is not planned on (another caller may
    be waiting for it). The servers that can start now come first: a busy one's slot is held
    only where one is left to hold.
    """
    owed = waiting + held
    coming = min(max(0, in_flight), owed)
    free = max(0, quota.maximum - quota.used + coming)
    holding = min(held, max(0, free - waiting))
    return Room(
        quota=Quota(used=quota.used - coming + holding, maximum=quota.maximum),
        coming=coming,
        held=holding,
    )


def after_waiting(
    message: str, waited: float, *, retry_in_slot: bool, retried: bool
) -> tuple[Outcome, str]:
    """What becomes of a server whose room was still being freed (its backup refused for the
    limit, `message` the service's words) when the run's budget for waiting ended (`waited`
    seconds of it). While the slot's retry window is open (`retry_in_slot`) it is tried again
    later in the slot, its room kept for it; otherwise it is not backed up, and says why
    (`retried`: this was a later try of the slot, its last)."""
    if retry_in_slot:
        return Outcome.RETRYING, (
            "the room made for its backup under the account's manual-backup limit is still "
            f"being freed (the service still counts the backups being deleted; waited "
            f"{waited:.0f} s), so it is tried again later in the slot, and that room is kept "
            "for it"
        )
    waiting = (
        f"; the deletions made for room were still counted after waiting {waited:.0f} s"
        if waited
        else ""
    )
    last = "; the slot's retry window has ended" if retried else ""
    return Outcome.FAILED, (
        f"not backed up: the account's manual-backup limit was still full ({message}){waiting}"
        f"{last}"
    )
