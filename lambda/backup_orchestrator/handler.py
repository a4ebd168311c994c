"""The Lambda entry point: validate the event, build clients, run once, report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from backup_orchestrator.after_run import Followers
from backup_orchestrator.clients import opsworkscm_client, service_pace
from backup_orchestrator.events import RunRequest, parse_event
from backup_orchestrator.history import History
from backup_orchestrator.models import Outcome
from backup_orchestrator.opsworkscm import OpsWorksCM
from backup_orchestrator.orchestrator import Services, run
from backup_orchestrator.report import RunReport
from backup_orchestrator.retry_schedule import RetryTarget
from backup_orchestrator.settings import Settings, SettingsError, get_settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# A scheduled slot must stay claimed longer than EventBridge Scheduler keeps retrying it.
IDEMPOTENCY_SECONDS = 48 * 3600


def build_services(settings: Settings, function_arn: str) -> Services:
    """The clients a run uses; the steps after it get those their settings ask for."""
    retry_target = (
        RetryTarget(
            function_arn=function_arn,
            role_arn=settings.retry_role_arn,
            name_prefix=settings.retry_schedule_prefix,
            dead_letter_arn=settings.dead_letter_arn,
        )
        if settings.retry_role_arn
        else None
    )
    return Services(
        opsworkscm=OpsWorksCM(opsworkscm_client(pace=service_pace(settings.opsworkscm_rate))),
        stepfunctions=boto3.client("stepfunctions"),
        followers=Followers(
            scheduler=boto3.client("scheduler") if retry_target else None,
            retry_target=retry_target,
            sns=boto3.client("sns") if settings.alert_topic_arn else None,
            history=(
                History(boto3.client("dynamodb"), settings.history_table)
                if settings.history_table
                else None
            ),
        ),
    )


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """Raises SettingsError or InvalidRequestError (naming the field) before changing anything."""
    settings = get_settings()
    if settings.tracker_state_machine_arn is None or settings.idempotency_table is None:
        raise SettingsError(
            "invalid setting: TRACKER_STATE_MACHINE_ARN and IDEMPOTENCY_TABLE must be set for the "
            "deployed function"
        )
    request = parse_event(event, request_id=context.aws_request_id)
    logger.append_keys(run_id=request.run_id)
    tracer.put_annotation("run_id", request.run_id)
    services = build_services(settings, context.invoked_function_arn)

    def execute() -> dict[str, Any]:
        report = run(request, settings, services, remaining_ms=context.get_remaining_time_in_millis)
        _record_metrics(report, whole_selection=request.scheduled)
        answer = report.to_json()
        _log_report(answer)
        return answer

    if request.dry_run:
        return execute()
    return _once_per_slot(execute, request, settings, context)


def _once_per_slot(
    execute: Callable[[], dict[str, Any]],
    request: RunRequest,
    settings: Settings,
    context: LambdaContext,
) -> dict[str, Any]:
    """Run `execute` at most once per idempotency key; a repeat gets the first run's report."""
    assert settings.idempotency_table is not None
    config = IdempotencyConfig(
        event_key_jmespath="idempotencyKey",
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        raise_on_no_idempotency_key=True,
    )
    config.register_lambda_context(context)
    store = DynamoDBPersistenceLayer(table_name=settings.idempotency_table)
    ran = False

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="claim", persistence_store=store, config=config
    )
    def once(claim: dict[str, str]) -> dict[str, Any]:
        nonlocal ran
        ran = True
        result: dict[str, Any] = execute()
        return result

    report: dict[str, Any] = once(claim={"idempotencyKey": request.idempotency_key})
    if not ran:
        logger.info("repeated delivery: returning the first run's report")
    return report


def _log_report(report: dict[str, Any]) -> None:
    """The report in the function's log, where a scheduled run's can be found (the schedule
    keeps no answer) by its run_id: one line for the run; each server has its own line,
    "server outcome" (after_run.log_servers), so a large fleet's report never outgrows a log
    event (256 KB)."""
    logger.info(
        "run report",
        extra={"report": {k: v for k, v in report.items() if k not in ("results", "compliance")}},
    )


def _record_metrics(report: RunReport, *, whole_selection: bool) -> None:
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
