"""Tables, and a run's report as a person reads it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from backup_orchestrator.domain.records import Backup, Server
from backup_orchestrator.domain.tiers import Retention, RetentionError, Tier, parse_retention
from owcm_backup.follow import RUNNING, TIMED_OUT, VANISHED, Done, Followed, Waited

DONE_TEXT = {
    Done.DELETED: "deleted",
    Done.ALREADY_GONE: "already gone",
    Done.REFUSED: "refused",
    Done.KEPT: "kept: the new backup did not end OK",
    Done.NOT_APPLIED: "not applied: waiting stopped before the new backup was OK",
    Done.BY_TRACKER: "left to the tracker",
}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False))
        + ("  " if len(row) > 1 else "")
        + row[-1]
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


# The tiers as the BACKUPS (M/W/D) column gives them: monthly, weekly, daily.
BY_TIER = (Tier.MONTHLY, Tier.WEEKLY, Tier.DAILY)
BY_TIER_HEADER = "BACKUPS (M/W/D)"


def by_tier(server: Server, backups: Sequence[Backup]) -> dict[str, int]:
    """How many of the server's own OK manual backups are of each tier (a marker written before
    tiers existed reads as daily); only this very server's, not an earlier one's of its name."""
    counts = Counter(
        b.tier for b in backups if b.made_while(server) and b.is_own and b.status == "OK"
    )
    return {str(tier): counts[tier] for tier in BY_TIER}


def by_tier_cell(counts: Mapping[str, int] | None) -> str:
    """`1/2/5`: monthly, weekly and daily backups."""
    return "-" if counts is None else "/".join(str(counts[str(t)]) for t in BY_TIER)


def retention_cell(retention: Retention | None) -> str:
    """A retention as a person reads it: the number of backups when only the daily tier is
    kept, else the tiers (`daily:7 weekly:4 monthly:3`); `?` when it is not known."""
    if retention is None:
        return "?"
    return str(retention.daily) if retention.total == retention.daily else str(retention)


def awaiting_line(count: int, limit_held: str) -> str:
    """The backups that await `owcm-backup adopt`, and the part of the limit they hold."""
    return (
        f"Awaiting adoption: {count} backup{'s' * (count != 1)} ({limit_held} of the limit); "
        "`owcm-backup adopt` tags those it can prove"
    )


def age_in_words(seconds: float) -> str:
    """An age as a person reads it: 3d 4h, 5h 12m, 7m."""
    days, rest = divmod(max(0, int(seconds)), 86_400)
    hours, rest = divmod(rest, 3600)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {rest // 60}m" if hours else f"{rest // 60}m"


def duration(seconds: float) -> str:
    """A wait as a person reads it: 45s, 4m05s, 1h02m."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def ended(followed: Followed, interrupted: bool) -> str:
    """Why a followed backup is not OK, in plain words."""
    if followed.status == RUNNING:
        stopped = "waiting was interrupted" if interrupted else "waiting stopped"
        return f"still IN_PROGRESS when {stopped}; the backup goes on in OpsWorks CM"
    if followed.status == TIMED_OUT:
        return "still IN_PROGRESS after --timeout; the backup goes on in OpsWorks CM"
    if followed.status == VANISHED:
        return "the backup no longer exists"
    said = f": {followed.reason}" if followed.reason else ""
    return f"backup ended {followed.status}{said}"


def format_report(
    report: dict[str, Any],
    waited: Waited | None = None,
    tiers: Mapping[str, Mapping[str, int]] | None = None,
) -> str:
    """A run report as a person reads it: one row per server, then what was deleted and why,
    and, after --wait, how each backup ended and what became of its deferred deletions.
    `tiers`: each server's backups by tier (`by_tier`), shown as a column."""
    quota = report["quota"]
    kind = "dry run, nothing changed" if report["dryRun"] else "run"
    lines = [
        f"Run {report['runId']} ({kind})",
        f"Manual backups: {quota['used']} of {quota['maximum']} used before; "
        f"{quota['usedAfterRun']} after the run; {quota['usedWhenSettled']} once retention is "
        "applied",
        "",
    ]
    headers = ["SERVER", "OUTCOME", "BACKUP", "RETAIN"]
    headers += ([BY_TIER_HEADER] if tiers is not None else []) + (["FINAL"] if waited else [])
    rows = []
    for result in report["results"]:
        name = result["serverName"]
        row = [name, result["outcome"], result["backupId"] or "-", _retain(result["retain"])]
        if tiers is not None:
            row.append(by_tier_cell(tiers.get(name)))
        why = result["reason"]
        if waited:
            followed = waited.find(result["backupId"] or "")
            row.append(followed.status if followed else "-")
            if followed and followed.status != "OK":
                why = ended(followed, waited.interrupted)
        rows.append([*row, why])
    lines.append(table([*headers, "WHY"], rows))
    lines += _deletions_section(report, waited)
    lines += _not_proven_section(report)
    warnings = [(r["serverName"], w) for r in report["results"] for w in r.get("warnings", [])]
    if warnings:
        lines += ["", "Warnings:", *(f"  {name}: {text}" for name, text in warnings)]
    lines += orphans_section(report.get("backupsOfDeletedServers", []))
    if report.get("compliance"):
        lines += ["", "Recovery point objectives:", format_compliance(report["compliance"])]
    first = report.get("trackerExecutionArn")
    arns = report.get("trackerExecutionArns") or ([first] if first else [])
    if arns:
        lines += ["", "Tracker:", *(f"  {arn}" for arn in arns)]
    if report.get("trackerError"):
        lines += ["", f"Tracker NOT started: {report['trackerError']}"]
        if not waited:
            lines.append(
                "Nothing follows these backups: their deferred deletions will not be applied "
                "(the next run applies retention again; run --wait follows the backups itself)."
            )
    return "\n".join(lines)


def _retain(retain: dict[str, Any]) -> str:
    """What a server keeps: `granted/asked` backups, or its tiers (`daily:2 weekly:2`, and what
    it is granted when that is less)."""
    if retain["asked"] is None:
        return "-"
    asked = tiers_of(retain.get("tiersAsked"))
    if asked is None or asked.total == asked.daily:
        return f"{retain['granted'] or '-'}/{retain['asked']}"
    granted = retain.get("tiersGranted")
    return str(asked) if granted == str(asked) else f"{granted or '-'} of {asked}"


def tiers_of(text: str | None) -> Retention | None:
    """The retention a report or a status row gives in the tag grammar (None: none, or not)."""
    try:
        return None if text is None else parse_retention(text)
    except RetentionError:
        return None


def _not_proven_section(report: dict[str, Any]) -> list[str]:
    """The backups with the product's marker that the run kept because their run tag does not
    prove them its own, and how many of them await adoption."""
    rows = [
        [r["serverName"], k["backupId"], k["reason"]]
        for r in report["results"]
        for k in r.get("notProven", [])
    ]
    if not rows:
        return []
    lines = [
        "",
        "Kept, not proven the product's (never deleted):",
        table(["SERVER", "BACKUP", "WHY"], rows),
    ]
    held = report.get("ownership") or {}
    awaiting = held.get("awaitingAdoption", 0)
    if awaiting and awaiting == held["notProven"]:
        lines.append(awaiting_line(awaiting, held["limitHeld"]))
    elif held:
        lines.append(
            f"Kept: {held['notProven']} backups ({held['limitHeld']} of the limit), {awaiting} "
            "of them awaiting adoption (`owcm-backup adopt` tags those it can prove)"
        )
    return lines


def _deletions_section(report: dict[str, Any], waited: Waited | None) -> list[str]:
    now = [(r, "now", d) for r in report["results"] for d in r["deleted"]]
    later = [(r, "after OK", d) for r in report["results"] for d in r["deferredDeletes"]]
    if not now and not later:
        return []
    if report["dryRun"]:
        rows = [[r["serverName"], when, d["backupId"], d["reason"]] for r, when, d in now + later]
        return [
            "",
            "Retention and room (would delete):",
            table(["SERVER", "WHEN", "BACKUP", "WHY"], rows),
        ]
    rows = [[r["serverName"], when, d["backupId"], "deleted", d["reason"]] for r, when, d in now]
    rows += [
        [
            r["serverName"],
            when,
            d["backupId"],
            _deferred(report, waited, r, d["backupId"]),
            d["reason"],
        ]
        for r, when, d in later
    ]
    return ["", "Retention and room:", table(["SERVER", "WHEN", "BACKUP", "DONE", "WHY"], rows)]


def _deferred(
    report: dict[str, Any], waited: Waited | None, result: dict[str, Any], backup_id: str
) -> str:
    """What became of a deferred deletion: applied here, by the tracker, or not at all."""
    followed = waited.find(result["backupId"] or "") if waited else None
    deletions = followed.deletions if followed else []
    deletion = next((d for d in deletions if d.backup_id == backup_id), None)
    if deletion is not None:
        text = DONE_TEXT.get(deletion.done, deletion.done.value)
        return f"{text}: {deletion.error}" if deletion.error else text
    if report.get("trackerExecutionArn"):
        return "by the tracker, once the new backup is OK"
    return "not applied: nothing follows the new backup (--wait does)"


def format_compliance(judged: Sequence[dict[str, Any]]) -> str:
    """The servers against their recovery point objectives, as a person reads them."""
    rows = []
    for c in judged:
        verdict = "yes" if c["compliant"] else ("catching up" if c.get("catchingUp") else "NO")
        newest = c["newestOkBackup"] or "-"
        made = str(c["newestOkAt"])[:16].replace("T", " ") if c["newestOkAt"] else "-"
        age = "-" if c["ageSeconds"] is None else f"{c['ageSeconds'] / 3600:.1f} h"
        why = "; ".join(c.get("reasons") or []) or "-"
        rows.append(
            [
                c["serverName"],
                "yes" if c["selected"] else "no",
                f"{c['rpoHours']} h",
                newest,
                made,
                age,
                verdict,
                why,
            ]
        )
    headers = ["SERVER", "SELECTED", "RPO", "NEWEST GOOD BACKUP", "MADE (UTC)", "AGE", "COMPLIANT"]
    return table([*headers, "WHY NOT"], rows)


def orphans_section(orphans: Sequence[dict[str, Any]]) -> list[str]:
    if not orphans:
        return []
    rows = [
        [o["serverName"], o["backupId"], o["status"], str(o["createdAt"])[:19], _maker(o["own"])]
        for o in orphans
    ]
    return [
        "",
        "Backups of deleted servers (never pruned by a run; `owcm-backup delete-orphans` removes "
        "them on request):",
        table(["SERVER", "BACKUP", "STATUS", "CREATED", "MADE BY"], rows),
    ]


def orphan_entry(backup: Backup) -> dict[str, Any]:
    return {
        "serverName": backup.server_name,
        "backupId": backup.backup_id,
        "status": backup.status,
        "createdAt": backup.created_at.isoformat(),
        "own": backup.is_own,
    }


def _maker(own: bool) -> str:
    return "this product" if own else "someone else"
