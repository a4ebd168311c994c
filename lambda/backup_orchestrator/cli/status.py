"""status: the servers, their newest good backup, and the account's manual-backup quota."""

from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import UTC, datetime
from typing import Any

# Imported under the names the body of command_status has always used.
from backup_orchestrator.cli.output import age, table
from backup_orchestrator.cli.output import orphan_entry as _orphan
from backup_orchestrator.cli.output import orphans_section as _orphans_section
from backup_orchestrator.cli.session import opsworkscm as _service
from backup_orchestrator.models import Backup, Server
from backup_orchestrator.planner import orphaned


def command_status(args: argparse.Namespace) -> int:
    service = _service(args)
    servers = service.servers()
    backups = service.backups()
    quota = service.manual_backup_quota()
    now = datetime.now(UTC)
    rows = [_server_status(s, backups, now) for s in servers]
    orphans = [_orphan(b) for b in orphaned(servers, backups)]
    if args.json:
        body = {
            "quota": {"used": quota.used, "maximum": quota.maximum},
            "servers": rows,
            "backupsOfDeletedServers": orphans,
        }
        print(json.dumps(body, indent=2, default=str))
        return 0
    print(
        f"Manual backups: {quota.used} of {quota.maximum} used ({quota.headroom} free, "
        "account-wide)\n"
    )
    print(
        table(
            ["SERVER", "ENGINE", "STATE", "NEWEST OK BACKUP", "AGE", "MANUAL", "AUTOMATED"],
            [
                [
                    r["serverName"],
                    r["engine"],
                    r["state"],
                    r["newestOkBackup"] or "-",
                    r["newestOkAge"] or "-",
                    _counts(r["manual"]),
                    _counts(r["automated"]),
                ]
                for r in rows
            ],
        )
    )
    if orphans:
        print("\n".join(_orphans_section(orphans)))
    return 0


def _server_status(server: Server, backups: list[Backup], now: datetime) -> dict[str, Any]:
    # Only this very server's backups: an earlier server of the same name is listed apart.
    mine = [b for b in backups if b.made_while(server)]
    ok = [b for b in mine if b.status == "OK"]
    newest = max(ok, key=lambda b: b.created_at, default=None)
    return {
        "serverName": server.name,
        "engine": server.engine,
        "state": server.status,
        "newestOkBackup": newest.backup_id if newest else None,
        "newestOkAge": age(newest.created_at, now) if newest else None,
        "manual": dict(Counter(b.status for b in mine if b.is_manual)),
        "automated": dict(Counter(b.status for b in mine if not b.is_manual)),
    }


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "0"
