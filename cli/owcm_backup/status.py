"""status: every server with its selection, retention, RPO, newest good backup and compliance,
and its own good backups by tier; the account's manual-backup quota and the backups in it that
await adoption; whether alerts reach their subscribers; backups of deleted servers."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import compliance
from backup_orchestrator.domain.planner import (
    Policy,
    orphaned,
    resolve_retention,
    tagged_for_backup,
)
from backup_orchestrator.domain.records import Backup, Proof, Quota, Server
from owcm_backup.adopt import awaiting_adoption
from owcm_backup.delivery import alert_delivery, delivery_line
from owcm_backup.drill import add_last_drills, print_last_drills
from owcm_backup.output import (
    BY_TIER_HEADER,
    awaiting_line,
    by_tier,
    by_tier_cell,
    retention_cell,
    table,
    tiers_of,
)
from owcm_backup.output import age_in_words as _age
from owcm_backup.output import orphan_entry as _orphan
from owcm_backup.output import orphans_section as _orphans_section
from owcm_backup.session import opsworkscm as _service
from owcm_backup.session import settings as _settings


def command_status(args: argparse.Namespace) -> int:
    """Every server: selected or not, its retention and RPO, its newest good backup and whether
    that is within the RPO, its backups by tier; the quota and what awaits adoption; backups of
    deleted servers. --check: exit 1 when a selected server is not compliant."""
    settings = _settings(args)
    service = _service(args)
    account = read_account(service, settings)
    servers, backups, quota, rows = account.servers, account.backups, account.quota, account.rows
    add_last_drills(args, settings, rows)
    orphans = [_orphan(b) for b in orphaned(servers, backups)]
    awaiting = _awaiting(service, backups, quota)
    delivery = alert_delivery(args)
    late = any(r["selected"] and not r["compliant"] for r in rows)
    if args.json:
        body = {
            "quota": {"used": quota.used, "maximum": quota.maximum},
            "alertDelivery": delivery,
            "servers": rows,
            "backupsOfDeletedServers": orphans,
            "awaitingAdoption": awaiting,
        }
        print(json.dumps(body, indent=2))
        return 1 if args.check and late else 0
    _print_quota(quota, awaiting, delivery)
    print(table(list(HEADERS), [status_row(r) for r in rows]))
    print_last_drills(rows)
    reasons = [(r["serverName"], why) for r in rows for why in r["reasons"]]
    if reasons:
        print("\nWhy not compliant:\n" + "\n".join(f"  {name}: {why}" for name, why in reasons))
    if orphans:
        print("\n".join(_orphans_section(orphans)))
    return 1 if args.check and late else 0


@dataclass(frozen=True)
class Account:
    """What status reads of one account-region: its servers, their backups, the quota, and a
    row per server."""

    servers: list[Server]
    backups: list[Backup]
    quota: Quota
    rows: list[dict[str, Any]]

    @property
    def late(self) -> bool:
        """A selected server is not compliant."""
        return any(r["selected"] and not r["compliant"] for r in self.rows)


def read_account(service: OpsWorksCM, settings: Settings) -> Account:
    """Each server with its selection, retention, RPO, newest good backup and compliance under
    `settings` (the function's), and the quota. Raises what the adapter raises (ERRORS)."""
    servers = service.with_tags(service.servers())
    backups = service.backups()
    quota = service.manual_backup_quota()
    selected = {s.name for s in servers if tagged_for_backup(s, settings.select_tag)}
    judged = compliance.evaluate(
        [s for s in servers if s.name in selected],
        selected,
        backups,
        service.now(),
        default_rpo_hours=settings.rpo_hours,
        count_automated=settings.compliance_counts_automated,
    )
    verdicts = {c.server_name: c for c in judged}
    policy = Policy(select_tag=settings.select_tag, retention=settings.tiers, zone=settings.zone)
    rows = [_server_status(s, verdicts.get(s.name), backups, policy) for s in servers]
    return Account(servers, backups, quota, rows)


def _print_quota(quota: Quota, awaiting: dict[str, Any], delivery: dict[str, Any] | None) -> None:
    """The account's manual backups, the part of them that awaits adoption, and whether alerts
    reach their subscribers."""
    print(
        f"Manual backups: {quota.used} of {quota.maximum} used ({quota.headroom} free, "
        "account-wide)"
    )
    if awaiting["backups"]:
        print(awaiting_line(len(awaiting["backups"]), awaiting["limitHeld"]))
    if awaiting["unread"]:
        print(
            f"Tags not read: {len(awaiting['unread'])} backups with this product's marker "
            "without a tier may await adoption (`owcm-backup adopt` says why)"
        )
    if delivery:
        print(delivery_line(delivery))
    print()


HEADERS = (
    "SERVER",
    "ENGINE",
    "STATE",
    "SELECTED",
    "RETAIN",
    "RPO",
    "NEWEST GOOD BACKUP",
    "MADE (UTC)",
    "AGE",
    "COMPLIANT",
    BY_TIER_HEADER,
    "MANUAL",
    "AUTOMATED",
)


def status_row(row: dict[str, Any]) -> list[str]:
    if not row["selected"]:
        verdict = "-"
    elif row["compliant"]:
        verdict = "yes"
    else:
        verdict = "catching up" if row["catchingUp"] else "NO"
    seconds = row["newestOkAgeSeconds"]
    return [
        row["serverName"],
        row["engine"],
        row["state"],
        "yes" if row["selected"] else "no",
        retention_cell(tiers_of(row["retention"])),
        f"{row['rpoHours']} h" if row["selected"] else "-",
        row["newestOkBackup"] or "-",
        (row["newestOkAt"] or "-")[:16].replace("T", " "),
        "-" if seconds is None else _age(seconds),
        verdict,
        by_tier_cell(row["backupsByTier"]),
        _counts(row["manual"]),
        _counts(row["automated"]),
    ]


def _server_status(
    server: Server,
    verdict: compliance.Compliance | None,
    backups: list[Backup],
    policy: Policy,
) -> dict[str, Any]:
    # Only this very server's backups: an earlier server of the same name is listed apart.
    mine = [b for b in backups if b.made_while(server)]
    retain, retain_problem = resolve_retention(server, policy)
    newest = verdict.newest_ok if verdict else None
    return {
        "serverName": server.name,
        "engine": server.engine,
        "state": server.status,
        "selected": verdict is not None,
        # The most backups it keeps (with the daily tier alone, its retain), and its tiers.
        "retain": None if retain is None else retain.total,
        "retention": None if retain is None else str(retain),
        "rpoHours": verdict.rpo_hours if verdict else None,
        "newestOkBackup": newest.backup_id if newest else None,
        "newestOkAt": newest.created_at.isoformat() if newest else None,
        "newestOkAgeSeconds": (
            round(verdict.age_seconds) if verdict and verdict.age_seconds is not None else None
        ),
        "compliant": verdict.compliant if verdict else None,
        "catchingUp": verdict.catching_up if verdict else None,
        "summary": verdict.summary if verdict else None,
        "reasons": [
            *([retain_problem] if retain_problem else []),
            *([server.tags_error] if server.tags_error else []),
            *(verdict.reasons if verdict else ()),
        ],
        "backupsByTier": by_tier(server, mine),
        "manual": dict(Counter(b.status for b in mine if b.is_manual)),
        "automated": dict(Counter(b.status for b in mine if not b.is_manual)),
    }


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "0"


def _awaiting(service: OpsWorksCM, backups: list[Backup], quota: Quota) -> dict[str, Any]:
    """The backups awaiting adoption (their tags read, one call each, for the backups with the
    product's marker without a tier only), the part of the limit they hold, and those whose tags
    could not be read."""
    found = awaiting_adoption(service, backups)
    held = [b for b in found if b.proof is Proof.UNTAGGED]
    return {
        "backups": [b.backup_id for b in held],
        "limitHeld": f"{sum(b.counts_toward_limit for b in held)} of {quota.maximum}",
        "unread": [
            {"backupId": b.backup_id, "error": b.proof_reason}
            for b in found
            if b.proof is Proof.UNREAD
        ],
    }
