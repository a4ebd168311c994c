"""After a run has done its work, in order: the busy servers' next try, compliance, the
per-server log lines, the history, the compliance alert.

Each step is best effort for the run (a backup already started stays started), but never silent:
a next try that cannot be scheduled turns its servers FAILED (next_try.py); a history or alert
that cannot be written is logged as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aws_lambda_powertools import Logger

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import RunReport
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import compliance
from backup_orchestrator.domain.records import Backup, Server
from backup_orchestrator.run.judge import judge, judged_servers
from backup_orchestrator.run.next_try import schedule_next_try
from backup_orchestrator.run.services import Followers

logger = Logger(child=True)


def follow_up(
    report: RunReport,
    request: RunRequest,
    settings: Settings,
    followers: Followers,
    tagged: Sequence[Server],
    backups: Sequence[Backup],
    remembered: dict[str, list[compliance.RunEntry]],
    *,
    now: datetime,
    retry_busy: bool,
) -> None:
    """Everything after the run's own work, in order: the busy servers' next try (it may turn
    them FAILED), compliance, the per-server log lines, the history, the compliance alert."""
    if retry_busy:
        schedule_next_try(report, request, settings, followers, now)
    servers, selected = judged_servers(tagged, request, settings, remembered)
    judged = judge(report, servers, selected, backups, now, settings, remembered)
    log_servers(report)
    if request.dry_run:
        return
    remember(report, followers, remembered, now)
    # The slot's own run alerts on every late server; its last retry on the retried servers
    # still late (missed); the tries between, and manual runs (they judge only the servers they
    # name), do not, so a late server is not announced every fifteen minutes.
    if request.scheduled and request.attempt == 0:
        alert(judged, followers, now)
    elif request.retrying and not retry_busy:
        alert([c for c in judged if c.server_name in request.retrying], followers, now)


def remember(
    report: RunReport,
    followers: Followers,
    remembered: dict[str, list[compliance.RunEntry]],
    now: datetime,
) -> None:
    if followers.history is None or report.dry_run:
        return
    entries = [
        (r.server_name, compliance.RunEntry(report.run_id, now, r.outcome, r.reason, r.backup_id))
        for r in report.results
    ]
    try:
        followers.history.record(entries, remembered)
    except ERRORS as exc:
        logger.error("history not written", extra={"error": str(exc)})


def alert(
    judged: Sequence[compliance.Compliance],
    followers: Followers,
    now: datetime,
) -> None:
    """Publish the compliance alert when a judged server is outside its RPO."""
    message = compliance.alert(judged, now)
    if message is None or followers.alerts is None:
        return
    subject, text = message
    try:
        followers.alerts.publish(subject, text)
    except ERRORS as exc:
        logger.error("compliance alert not published", extra={"error": str(exc)})


def log_servers(report: RunReport) -> None:
    """One structured line per server: what Logs Insights reads back (docs/compliance.md)."""
    judged = {c.server_name: c for c in report.compliance}
    for result in report.results:
        verdict = judged.get(result.server_name)
        logger.info(
            "server outcome",
            extra={
                "server": result.server_name,
                "outcome": str(result.outcome),
                "reason": result.reason,
                "backup_id": result.backup_id,
                "deleted": [d.backup_id for d in result.deleted],
                "deferred_deletes": [d.backup_id for d in result.deferred_deletes],
                "warnings": result.warnings,
                "retain_asked": result.retain.asked,
                "retain_granted": result.retain.granted,
                "compliant": verdict.compliant if verdict else None,
                "backup_age_hours": (
                    round(verdict.age_seconds / 3600, 2)
                    if verdict and verdict.age_seconds is not None
                    else None
                ),
                "rpo_hours": verdict.rpo_hours if verdict else None,
                "dry_run": report.dry_run,
            },
        )
