"""Ownership proven twice (pure): a backup the product would delete must carry its marker and
its own `opsworks-cm-backup:run` tag naming the same run (safety rule 3).

The marker is in the Description, which anyone creating a backup can type; the tag is written by
`CreateBackup` itself when the product makes the backup. A backup with the marker and no such tag
(made before the product tagged its backups, or a typed-in marker), or with a tag naming another
run, is never deleted: the run's report lists it with the reason, and `owcm-backup adopt` tags the
ones whose marker and creation time prove them the product's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.records import Backup, Proof
from backup_orchestrator.domain.tiers import Tier

RUN_TAG = "opsworks-cm-backup:run"
TIER_TAG = "opsworks-cm-backup:tier"
# A scheduled run's backup starts within its slot's retry window (at most 12 hours) and the
# tracker's deadline (at most 24 hours): adoption accepts a creation time that far after the slot.
ADOPTION_HOURS = 36
ADOPTION_WINDOW = timedelta(hours=ADOPTION_HOURS)


def creation_tags(run_id: str, tier: Tier) -> dict[str, str]:
    """The tags `CreateBackup` writes on a backup the product makes."""
    return {RUN_TAG: run_id, TIER_TAG: str(tier)}


def proven(backup: Backup, tags: Mapping[str, str]) -> Backup:
    """`backup` with its proof, judged from its tags."""
    run = backup.run_id
    tagged = tags.get(RUN_TAG)
    if run is not None and tagged == run:
        return dataclasses.replace(backup, proof=Proof.PROVEN, proof_reason="")
    if run is None:
        proof, reason = Proof.CONTRADICTED, "it does not carry this product's marker"
    elif tagged is None:
        proof, reason = (
            Proof.UNTAGGED,
            (
                f"it carries this product's marker (run {run}) but no {RUN_TAG} tag: made "
                "before the product tagged its backups (`owcm-backup adopt` tags those it can "
                "prove), or a marker typed by hand; it is never deleted"
            ),
        )
    else:
        proof, reason = (
            Proof.CONTRADICTED,
            (
                f"its marker names run {run} but its {RUN_TAG} tag names {tagged!r}; it is never "
                "deleted"
            ),
        )
    return dataclasses.replace(backup, proof=proof, proof_reason=reason)


def unread(backup: Backup, error: str) -> Backup:
    """`backup` kept this run: its tags could not be read, so its ownership is not proven."""
    return dataclasses.replace(
        backup,
        proof=Proof.UNREAD,
        proof_reason=f"its tags could not be read ({error}), so it is kept this run",
    )


def awaiting_adoption(backup: Backup) -> bool:
    """A backup made before the product tagged its backups: its marker has no tier, and its
    tags were read and hold no run tag."""
    mark = backup.mark
    return mark is not None and not mark.tiered and backup.proof is Proof.UNTAGGED


def adoptable(backup: Backup, tags: Mapping[str, str]) -> str | None:
    """Why `backup` (the product's marker, no run tag) cannot be adopted, or None when its marker
    and creation time prove it the product's: a scheduled run's backup created within
    ADOPTION_WINDOW after its slot."""
    mark = backup.mark
    if mark is None:
        return "it does not carry this product's marker"
    if RUN_TAG in tags:
        return f"it already has the tag {RUN_TAG}={tags[RUN_TAG]}"
    slot = marker.slot_of(mark.run)
    if slot is None:
        return (
            "a manual run's marker holds no time to check its creation against; delete it by "
            "hand once it is not needed"
        )
    if not slot <= backup.created_at <= slot + ADOPTION_WINDOW:
        return (
            f"it was created at {backup.created_at:%Y-%m-%dT%H:%M:%SZ}, not within "
            f"{ADOPTION_HOURS} hours after its run's slot "
            f"({slot:%Y-%m-%dT%H:%M:%SZ}): its marker may have been typed by hand"
        )
    return None
