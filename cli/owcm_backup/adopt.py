"""adopt: tag the backups the product made before it tagged its own, once their marker and
creation time prove them the product's; and how many await it, for `status`.

A backup the product made before it tagged its backups carries its marker without a tier and no
`opsworks-cm-backup:run` tag, so no run deletes it (ownership is proven twice: the marker and the
tag). `adopt` reads the tags of those backups only (one ListTagsForResource each) and gives the
ones `ownership.adoptable` accepts the tags a run gives its backups today: the run tag naming the
marker's run, and the tier tag `daily` (what such a marker reads as). It is a dry run unless
`--yes` is given; it never deletes anything.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

from backup_orchestrator.aws.errors import ERRORS, describe
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.domain import ownership
from backup_orchestrator.domain.records import Backup, Proof
from backup_orchestrator.domain.tiers import Tier
from owcm_backup import session
from owcm_backup.errors import Exit
from owcm_backup.output import table

WOULD_TAG, TAGGED, LEFT, REFUSED = "WOULD_TAG", "TAGGED", "LEFT", "REFUSED"


def untiered(backups: Sequence[Backup]) -> list[Backup]:
    """The backups whose marker has no tier (made before the product tagged its backups, or a
    marker typed by hand), but for those being deleted."""
    return [
        b for b in backups if b.mark is not None and not b.mark.tiered and b.status != "DELETING"
    ]


def awaiting_adoption(service: OpsWorksCM, backups: Sequence[Backup]) -> list[Backup]:
    """The backups that await adoption, and those whose tags could not be read (which may): the
    backups with the marker without a tier, judged by their tags (OpsWorksCM.proven, one
    ListTagsForResource each)."""
    judged = service.proven(untiered(backups))
    return [b for b in judged if ownership.awaiting_adoption(b) or b.proof is Proof.UNREAD]


def command_adopt(args: argparse.Namespace) -> int:
    """List the backups awaiting adoption and what would become of each; with --yes, tag the
    provable ones. Exit 1 when a tag could not be read or written."""
    service = session.opsworkscm(args)
    backups = [b for b in service.backups() if not args.server or b.server_name in args.server]
    found = awaiting_adoption(service, backups)
    if not found:
        print("No backups await adoption.")
        return Exit.OK
    entries = [_adopt(service, backup, act=args.yes) for backup in found]
    if args.json:
        print(json.dumps({"dryRun": not args.yes, "backups": entries}, indent=2))
    else:
        _print(entries, dry_run=not args.yes)
    return Exit.NOT_DONE if any(e["outcome"] == REFUSED for e in entries) else Exit.OK


def _adopt(service: OpsWorksCM, backup: Backup, *, act: bool) -> dict[str, Any]:
    """One backup's row: what was (or would be) done with it, and why."""
    entry: dict[str, Any] = {
        "serverName": backup.server_name,
        "backupId": backup.backup_id,
        "createdAt": backup.created_at.isoformat(),
        "run": backup.run_id,
        "outcome": REFUSED,
        "reason": backup.proof_reason,
        "tags": {},
    }
    if backup.proof is Proof.UNREAD:
        return entry
    # Awaiting adoption: its tags hold no run tag.
    left = ownership.adoptable(backup, {})
    if left is not None:
        entry.update(outcome=LEFT, reason=left)
        return entry
    tags = ownership.creation_tags(backup.run_id or "", Tier.DAILY)
    entry["tags"] = tags
    proof = "its marker and creation time prove it this product's"
    if not act:
        entry.update(outcome=WOULD_TAG, reason=proof)
        return entry
    try:
        service.tag_backup(backup, tags)
    except ERRORS as exc:
        entry.update(outcome=REFUSED, reason=f"not tagged: {describe(exc)}", tags={})
        return entry
    entry.update(outcome=TAGGED, reason=proof)
    return entry


def _print(entries: list[dict[str, Any]], *, dry_run: bool) -> None:
    heading = (
        "Backups awaiting adoption (this product's marker without a tier, no "
        f"{ownership.RUN_TAG} tag: never deleted until tagged):"
    )
    rows = [
        [
            e["serverName"],
            e["backupId"],
            e["createdAt"][:16].replace("T", " "),
            e["outcome"],
            _why(e),
        ]
        for e in entries
    ]
    print(heading)
    print(table(["SERVER", "BACKUP", "CREATED (UTC)", "OUTCOME", "WHY"], rows))
    provable = sum(e["outcome"] in (WOULD_TAG, TAGGED) for e in entries)
    left = sum(e["outcome"] == LEFT for e in entries)
    refused = sum(e["outcome"] == REFUSED for e in entries)
    if dry_run:
        said = (
            f"\nDry run, nothing tagged: `owcm-backup adopt --yes` tags the {provable} marked "
            f"{WOULD_TAG}"
            if provable
            else "\nDry run: none of them can be proven this product's, so none would be tagged"
        )
    else:
        said = f"\nTagged {provable}"
    said += f"; {left} left as they are (see WHY)" if left else ""
    said += f"; {refused} refused (see WHY)" if refused else ""
    print(said + ".")


def _why(entry: dict[str, Any]) -> str:
    if entry["tags"]:
        tags = ", ".join(f"{k}={v}" for k, v in entry["tags"].items())
        return f"{entry['reason']}; tags {tags}"
    return str(entry["reason"])
