"""A server's retention (pure): the tiers it keeps, the tier of the backup a run makes of it, and
its backups kept whatever the tiers say because their ownership is not proven.

The tiers come from the run (a manual event's `retention` or `retain`), else the server's tag
`opsworks-cm-backup:retention` (tiers.py grammar), else its tag `opsworks-cm-backup:retain`
(`daily:N`), else the stack's setting. A tag outside its grammar fails the server alone, saying
why (safety rule 9).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from backup_orchestrator.domain import marker, ownership, tiers
from backup_orchestrator.domain.records import (
    RETAIN_MAX,
    RETAIN_MIN,
    RETAIN_TAG,
    Backup,
    PruneScope,
    Server,
)
from backup_orchestrator.domain.tiers import Retention, RetentionError, Tier

RETENTION_TAG = "opsworks-cm-backup:retention"
_RETAIN_VALUE = re.compile(r"[0-9]{1,2}", re.ASCII)


@dataclass(frozen=True)
class Kept:
    """A backup of the server kept whatever its retention says, and why (its ownership is not
    proven twice: ownership.py)."""

    backup_id: str
    reason: str
    # Made before the product tagged its backups: `owcm-backup adopt` may tag it.
    awaiting_adoption: bool = False


def resolve(
    server: Server, default: Retention, override: Retention | None
) -> tuple[Retention | None, str | None]:
    """The tiers `server` keeps: the run's override, else its retention tag, else its retain tag,
    else the default.

    Returns (retention, None), or (None, reason) when the tag it would use is outside its
    grammar (the service trims tag values, so surrounding spaces never reach here).
    """
    if override is not None:
        return override, None
    raw = server.tags.get(RETENTION_TAG)
    if raw is not None:
        try:
            return tiers.parse_retention(raw), None
        except RetentionError as exc:
            return None, f"its tag {RETENTION_TAG}={raw!r} is not a retention: {exc}; fix the tag"
    raw = server.tags.get(RETAIN_TAG)
    if raw is None:
        return default, None
    if _RETAIN_VALUE.fullmatch(raw) and RETAIN_MIN <= int(raw) <= RETAIN_MAX:
        return Retention.of_retain(int(raw)), None
    return None, (
        f"its tag {RETAIN_TAG}={raw!r} is not a whole number from {RETAIN_MIN} to {RETAIN_MAX} "
        "written with the digits 0-9; fix the tag"
    )


def new_tier(
    mine: Sequence[Backup], run_id: str | None, zone: ZoneInfo
) -> tuple[Tier, list[Backup]]:
    """The tier of the backup run `run_id` makes of the server (tiers.tier_for), and the backups
    that decided it (the newest holding its month, and its week). The backups that hold their
    period are the server's own of a scheduled run with a tier in their marker, OK or in
    progress, and not refuted by their run tag (ownership.py)."""
    slot = marker.slot_of(run_id or "")
    held = []
    for backup in mine:
        mark = backup.mark
        made = marker.slot_of(mark.run) if mark and mark.tiered else None
        if made is not None and backup.status in ("OK", "IN_PROGRESS") and not backup.proof.refused:
            held.append((backup, made))
    tier = tiers.tier_for(slot, zone, [made for _, made in held])
    if slot is None:
        return tier, []
    month, week = tiers.period_holders(slot, zone, held)
    # Only the holders that decided it: none for a monthly, the month's for a weekly.
    deciding = {Tier.MONTHLY: [], Tier.WEEKLY: [month], Tier.DAILY: [month, week]}[tier]
    return tier, [b for b in dict.fromkeys(deciding) if b is not None]


def not_proven(mine: Sequence[Backup], scope: PruneScope) -> list[Kept]:
    """The server's backups kept because their run tag does not prove the marker (only where
    the product's ownership is what would let it delete them)."""
    if scope is PruneScope.ALL_MANUAL:
        return []
    return [
        Kept(b.backup_id, b.proof_reason, awaiting_adoption=ownership.awaiting_adoption(b))
        for b in sorted(mine, key=lambda b: (b.created_at, b.backup_id))
        if b.is_own and b.proof.refused
    ]
