"""The planner's reasons (pure): what a server backed up keeps and why, and why one was not
backed up for lack of room. Operators read them in the report; they name the numbers."""

from __future__ import annotations

from backup_orchestrator.domain import sharing
from backup_orchestrator.domain.records import PruneScope, Quota


def kept(share: sharing.Share) -> str:
    """What the server keeps: its tiers, or (with the daily tier alone) how many backups."""
    asked = share.candidate.retention
    return f"{share.tiers}" if asked.total != asked.daily else f"{share.granted}"


def keeping(share: sharing.Share, sharing_with: int, quota: Quota) -> str:
    """What a server backed up keeps, and, when held below its ask, why."""
    asked = share.candidate.retention
    tiered = asked.total != asked.daily
    # With tiers, the tiers kept and the tier of the backup made now; else a count.
    words = kept(share) if tiered else f"{share.granted} backups"
    now = f" ({share.candidate.tier} backup now)" if tiered else ""
    if share.granted >= asked.total:
        return f"keeping {words}{now}"
    return (
        f"keeping {words} instead of {asked if tiered else asked.total}{now}: the account's "
        f"manual-backup limit ({quota.maximum}) is shared by {sharing_with} servers"
        + (", so the lowest tiers are trimmed first" if tiered else "")
    )


def no_room(quota: Quota, scope: PruneScope, started: int, held: int = 0) -> str:
    """Why a server was not backed up for lack of room: what fills the limit, the servers
    backed up first (`started`) and the room kept for servers waiting for it (`held`)."""
    untouchable = (
        "backups this product did not create, automated or in-progress backups, backups of "
        "deleted servers, or the newest good backup of a server"
        if scope is PruneScope.OWN
        else "automated or in-progress backups, backups of deleted servers, or the newest good "
        "backup of a server"
    )
    others = (
        f"; {started} server(s) that fit were backed up first, most in need first"
        if started
        else ""
    )
    waiting = (
        f"; the room of {held} backup(s) is kept for the servers waiting for the room an earlier "
        "try of the slot made for them"
        if held
        else ""
    )
    return (
        f"not backed up: no room under the account's manual-backup limit ({quota.used} of "
        f"{quota.maximum} used) and the backups filling it are ones this run may not delete "
        f"({untouchable}){others}{waiting}; raise the limit, delete old manual backups, or lower "
        "retention"
    )
