"""What the tests of bounded writes share: the largest fleet the configuration accepts, servers
with the longest names, the service's long words, and a run's whole report at that size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from annotated_types import Le

from backup_orchestrator.contract.report import (
    ComplianceReport,
    DeletionReport,
    DrillReport,
    NextTryReport,
    OrphanReport,
    QuotaReport,
    RetainReport,
    RunReport,
    ServerResult,
)
from backup_orchestrator.domain.records import Outcome
from infra.config.model import Config

RUN = "scheduled-20260105T020000Z"
AT = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
TRACKER = "arn:aws:states:eu-west-1:123456789012:execution:OpsWorksCMBackup-Tracker"
DRILL = "arn:aws:states:eu-west-1:123456789012:execution:OpsWorksCMBackup-Drill"
# What OpsWorks CM and the product say when a backup cannot start, at their longest in practice.
SERVICE_WORDS = (
    "Server is not in a valid state for this operation: the server's EC2 instance "
    "i-0123456789abcdef0 failed 3 consecutive health checks between 01:41 and 01:58 UTC and the "
    "server is being repaired; its last known status reason was 'The Chef Automate service did "
    "not answer on port 443 within 300 seconds (connection refused by 10.20.30.40)'. Try again "
    "when the server is HEALTHY."
)
LONG_REASON = (
    "not backed up: OpsWorks CM answered ValidationException after 6 tries over 41 seconds "
    f"(throttled 4 times, 2 answers lost): {SERVICE_WORDS}"
)


def largest_fleet() -> int:
    """The most servers `maxServers` accepts (infra/config/basics.py)."""
    [most] = [m.le for m in Config.model_fields["max_servers"].metadata if isinstance(m, Le)]
    assert isinstance(most, int)
    return most


def long_name(number: int) -> str:
    """A server name at OpsWorks CM's longest, 40 characters."""
    return f"chef-automate-production-eu-west-1-{number:05d}"[-40:]


def whole_report(servers: int) -> RunReport:
    """A scheduled run's report about `servers` servers, each part at its fullest: a third
    FAILED with the service's long words, a third RETRYING, a third STARTED with deletions; each
    judged out of its RPO with its last runs' reasons, drilled, and with a backup of a deleted
    server."""
    results = []
    for number in range(servers):
        server = long_name(number)
        kind = number % 3
        results.append(
            ServerResult(
                server_name=server,
                outcome=(Outcome.FAILED, Outcome.RETRYING, Outcome.STARTED)[kind],
                backup_id=f"{server}-20260105020001123" if kind == 2 else None,
                reason=LONG_REASON if kind == 0 else f"busy: {SERVICE_WORDS}",
                deleted=[DeletionReport(backup_id=f"{server}-20251201020000456", reason="room")],
                deferred_deletes=[
                    DeletionReport(
                        backup_id=f"{server}-2025120{day}020000456",
                        reason="beyond retention (7 kept), removed once the new backup is OK",
                    )
                    for day in range(2, 5)
                ],
                retain=RetainReport(asked=7, granted=7),
                warnings=[SERVICE_WORDS],
            )
        )
    return RunReport(
        run_id=RUN,
        dry_run=False,
        quota=QuotaReport(used=1999, maximum=2000, used_after_run=2000, used_when_settled=1500),
        results=results,
        backups_of_deleted_servers=[
            OrphanReport(
                backup_id=f"{long_name(number)}-20250901020000321",
                server_name=long_name(number),
                created_at=AT - timedelta(days=120),
                status="OK",
                own=True,
            )
            for number in range(servers, 2 * servers)
        ],
        compliance=[
            ComplianceReport(
                server_name=long_name(number),
                selected=True,
                rpo_hours=29,
                newest_ok_backup=None,
                newest_ok_at=None,
                age_seconds=None,
                compliant=False,
                summary="no good backup, RPO 29 h",
                reasons=[f"run scheduled-2026010{day}T020000Z: {LONG_REASON}" for day in (1, 2)],
            )
            for number in range(servers)
        ],
        next_try=NextTryReport(
            attempt=1,
            at=AT + timedelta(minutes=15),
            servers=[r.server_name for r in results if r.outcome is Outcome.RETRYING],
            schedule=f"opsworks-cm-backup-retry-{RUN}-1",
        ),
        tracker_execution_arn=f"{TRACKER}:{RUN}-1-5c1e0b7a",
        tracker_execution_arns=[
            f"{TRACKER}:{RUN}-{n}-5c1e0b7a" for n in range(1, -(-servers // 200) + 1)
        ],
        drills=[
            DrillReport(
                server_name=long_name(number),
                outcome="FAILED",
                reason=f"due, but the drill could not be started: {SERVICE_WORDS}",
                drill_server=f"drill-{long_name(number)[:27]}-3f9a1c",
                backup_id=f"{long_name(number)}-20260104020001789",
                execution_arn=f"{DRILL}:{RUN}-{long_name(number)}",
            )
            for number in range(servers)
        ],
    )


def item_bytes(item: dict[str, Any]) -> int:
    """A DynamoDB item's size as DynamoDB counts it (attribute names and values; strings in
    UTF-8), a little over rather than under."""

    def value(typed: dict[str, Any]) -> int:
        [(kind, content)] = typed.items()
        if kind == "S":
            return len(content.encode())
        if kind == "N":
            return len(content) + 1
        if kind == "BOOL" or kind == "NULL":
            return 1
        if kind == "L":
            return 3 + sum(value(v) + 1 for v in content)
        if kind == "M":
            return 3 + sum(len(k.encode()) + value(v) + 1 for k, v in content.items())
        raise AssertionError(f"no size for a {kind} attribute")

    return sum(len(k.encode()) + value(v) for k, v in item.items())
