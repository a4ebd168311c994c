"""After a run has done its work: the busy servers' next try, compliance, memory, alerts, logs.

Each step is best effort for the run (a backup already started stays started), but never silent:
a next try that cannot be scheduled turns its servers FAILED; a history or alert that cannot be
written is logged as an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from backup_orchestrator import compliance, retry_schedule
from backup_orchestrator.drill_servers import is_drill_server
from backup_orchestrator.events import RunRequest
from backup_orchestrator.history import History
from backup_orchestrator.models import GONE, Backup, Outcome, Server
from backup_orchestrator.planner import tagged_for_backup
from backup_orchestrator.report import ComplianceReport, NextTryReport, RunReport
from backup_orchestrator.settings import Settings

if TYPE_CHECKING:
    from types_boto3_scheduler import EventBridgeSchedulerClient as SchedulerClient
    from types_boto3_sns import SNSClient

logger = Logger(child=True)
ERRORS = (ClientError, BotoCoreError, RuntimeError)


@dataclass
class Followers:
    """The clients the steps after a run use; each is optional (the CLI has none of them)."""

    scheduler: SchedulerClient | None = None
    retry_target: retry_schedule.RetryTarget | None = None
    sns: SNSClient | None = None
    history: History | None = None

    def can_retry(self, request: RunRequest, settings: Settings) -> bool:
        """Whether busy servers of this run are tried again later in its slot."""
        window = timedelta(minutes=settings.retry_window_minutes)
        return (
            request.scheduled
            and not request.dry_run
            and self.scheduler is not None
            and self.retry_target is not None
            and request.attempt < retry_schedule.tries_in(window)
        )

    def remembered(self) -> dict[str, list[compliance.RunEntry]]:
        if self.history is None:
            return {}
        try:
            return self.history.load()
        except ERRORS as exc:
            logger.error("history not read", extra={"error": str(exc)})
            return {}


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
    servers, selected = _judged(tagged, request, settings, remembered)
    judged = judge(report, servers, selected, backups, now, settings, remembered)
    log_servers(report)
    if request.dry_run:
        return
    remember(report, followers, remembered, now)
    # The slot's own run alerts on every late server; its last retry on the retried servers
    # still late (missed); the tries between, and manual runs (they judge only the servers they
    # name), do not, so a late server is not announced every fifteen minutes.
    if request.scheduled and request.attempt == 0:
        alert(judged, followers, settings, now)
    elif request.retrying and not retry_busy:
        alert([c for c in judged if c.server_name in request.retrying], followers, settings, now)


def _judged(
    tagged: Sequence[Server],
    request: RunRequest,
    settings: Settings,
    remembered: dict[str, list[compliance.RunEntry]],
) -> tuple[list[Server], set[str]]:
    """The servers judged against their RPO, and which of them are selected: in a scheduled run
    every selected server (a server whose tags could not be read counts as selected) and every
    remembered one that is not any more; in a manual run the servers it names. Never a restore
    drill's temporary server."""
    if request.servers is not None:
        named = [s for s in tagged if s.status != GONE and not is_drill_server(s)]
        return named, set(request.servers)
    selected = {s.name for s in tagged if tagged_for_backup(s, settings.select_tag)}
    judged = [
        s
        for s in tagged
        if s.status != GONE
        and (s.name in selected or s.name in remembered)
        and not is_drill_server(s)
    ]
    return judged, selected


def schedule_next_try(
    report: RunReport, request: RunRequest, settings: Settings, followers: Followers, now: datetime
) -> None:
    """Schedule the slot's next try for the servers this run left RETRYING."""
    waiting = [r for r in report.results if r.outcome is Outcome.RETRYING]
    if not waiting:
        return
    assert followers.scheduler is not None
    assert followers.retry_target is not None
    assert request.slot is not None
    window = timedelta(minutes=settings.retry_window_minutes)
    attempt = request.attempt + 1
    at = retry_schedule.try_time(request.slot, attempt, window, now)
    names = [r.server_name for r in waiting]
    try:
        schedule = retry_schedule.schedule_retry(
            followers.scheduler,
            followers.retry_target,
            run_id=request.run_id,
            slot=request.slot,
            attempt=attempt,
            at=at,
            servers=names,
        )
    except ERRORS as exc:
        logger.error("next try not scheduled", extra={"error": str(exc), "servers": names})
        for result in waiting:
            result.outcome = Outcome.FAILED
            result.reason = (
                f"not backed up: {result.reason}, but that try could not be scheduled ({exc})"
            )
        return
    last = request.slot + window
    for result in waiting:
        result.reason = (
            f"{result.reason}: at {at:%H:%M} UTC (try {attempt} of "
            f"{retry_schedule.tries_in(window)}; the retry window ends {last:%H:%M} UTC)"
        )
    report.next_try = NextTryReport(attempt=attempt, at=at, servers=names, schedule=schedule)


def judge(
    report: RunReport,
    servers: Sequence[Server],
    selected: set[str],
    backups: Sequence[Backup],
    now: datetime,
    settings: Settings,
    remembered: dict[str, list[compliance.RunEntry]],
) -> list[compliance.Compliance]:
    """Judge compliance, with this run's outcomes first among each server's last runs."""
    this_run = {
        r.server_name: [
            compliance.RunEntry(report.run_id, now, r.outcome, r.reason, r.backup_id),
            *remembered.get(r.server_name, []),
        ]
        for r in report.results
    }
    judged = compliance.evaluate(
        servers,
        selected,
        backups,
        now,
        default_rpo_hours=settings.rpo_hours,
        count_automated=settings.compliance_counts_automated,
        history={**remembered, **this_run},
        started={
            r.server_name: r.backup_id
            for r in report.results
            if r.outcome is Outcome.STARTED and r.backup_id
        },
    )
    report.compliance = [
        ComplianceReport(
            server_name=c.server_name,
            selected=c.selected,
            rpo_hours=c.rpo_hours,
            newest_ok_backup=c.newest_ok.backup_id if c.newest_ok else None,
            newest_ok_at=c.newest_ok.created_at if c.newest_ok else None,
            age_seconds=c.age_seconds,
            compliant=c.compliant,
            catching_up=c.catching_up,
            summary=c.summary,
            reasons=list(c.reasons),
        )
        for c in judged
    ]
    return judged


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
    settings: Settings,
    now: datetime,
) -> None:
    """Publish the compliance alert when a judged server is outside its RPO."""
    message = compliance.alert(judged, now)
    if message is None or followers.sns is None or settings.alert_topic_arn is None:
        return
    subject, text = message
    try:
        followers.sns.publish(TopicArn=settings.alert_topic_arn, Subject=subject, Message=text)
    except ERRORS as exc:
        logger.error("compliance alert not published", extra={"error": str(exc)})


def log_servers(report: RunReport) -> None:
    """One structured line per server: what CloudWatch Logs Insights reads back (README)."""
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
