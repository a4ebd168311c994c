"""The run's metrics (CloudWatch, through Powertools' embedded metric format in the log): the
counts the alarms watch, and each judged server's backup age."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from backup_orchestrator.contract.report import RunReport
from backup_orchestrator.domain.records import Outcome


def record_metrics(metrics: Metrics, report: RunReport, *, whole_selection: bool) -> None:
    """The run's counts; and, from a run that judged every selected server (a scheduled one),
    each server's backup age and how many are outside their RPO."""
    # A dry run changed nothing: counting it would report backups and deletions that never were.
    if report.dry_run:
        return
    metrics.add_metric("BackupsStarted", MetricUnit.Count, report.count(Outcome.STARTED))
    metrics.add_metric("BackupsSkipped", MetricUnit.Count, report.count(Outcome.SKIPPED))
    metrics.add_metric("BackupsRetrying", MetricUnit.Count, report.count(Outcome.RETRYING))
    metrics.add_metric("BackupsFailedToStart", MetricUnit.Count, report.count(Outcome.FAILED))
    metrics.add_metric(
        "BackupsDeleted", MetricUnit.Count, sum(len(r.deleted) for r in report.results)
    )
    metrics.add_metric(
        "ManualBackupHeadroom",
        MetricUnit.Count,
        max(0, report.quota.maximum - report.quota.used_after_run),
    )
    if report.tracker_error:
        metrics.add_metric("TrackerStartFailures", MetricUnit.Count, 1)
    # A drill server left over that could not be deleted: it alarms, as the drill's own does.
    left = sum(1 for d in report.drills if d.outcome == "NOT_DELETED")
    if left:
        metrics.add_metric("RestoreDrillCleanupFailures", MetricUnit.Count, left)
    if not whole_selection:
        return
    metrics.add_metric("NonCompliantServers", MetricUnit.Count, len(report.outside_rpo()))
    for verdict in report.compliance:
        if verdict.age_seconds is None:
            continue
        # One series per server (dimension ServerName): the dashboard graphs them against RPOs.
        with single_metric(
            name="BackupAgeHours",
            unit=MetricUnit.NoUnit,
            value=round(verdict.age_seconds / 3600, 2),
        ) as metric:
            metric.add_dimension(name="ServerName", value=verdict.server_name)


def record_denied(metrics: Metrics, denied: int) -> None:
    """AccessDeniedAnswers: the "not found" answers a listing contradicted (safety rule 16), which
    the AccessDenied alarm watches; nothing when there were none."""
    if denied:
        metrics.add_metric("AccessDeniedAnswers", MetricUnit.Count, denied)


def record_central_failures(metrics: Metrics, failed: int) -> None:
    """CentralAlertsFailed: the alerts the estate's central topic did not take (each is in the
    stack's topic and logged as an error); nothing when there were none."""
    if failed:
        metrics.add_metric("CentralAlertsFailed", MetricUnit.Count, failed)
