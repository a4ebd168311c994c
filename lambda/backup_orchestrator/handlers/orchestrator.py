"""The orchestrator function's entry point: validate the settings and the event, build the
services, run once per slot (run/), record the metrics, log and return the report (a repeated
delivery of the slot gets the first run's record instead: contract/report.py RunRecord)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from backup_orchestrator.aws.alerts import Alerts
from backup_orchestrator.aws.clients import opsworkscm_client, service_pace
from backup_orchestrator.aws.history import History
from backup_orchestrator.aws.idempotency import once_per_slot
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.scheduler import RetryTarget
from backup_orchestrator.contract.events import parse_event
from backup_orchestrator.contract.report import RunRecord
from backup_orchestrator.contract.settings import Settings, SettingsError, get_settings
from backup_orchestrator.run.metrics import record_central_failures, record_denied, record_metrics
from backup_orchestrator.run.orchestrate import run
from backup_orchestrator.run.services import Followers, Services

logger = Logger()
tracer = Tracer()
metrics = Metrics()


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
            alerts=(
                Alerts(
                    boto3.client("sns"), settings.alert_topic_arn, settings.central_alert_topic_arn
                )
                if settings.alert_topic_arn
                else None
            ),
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

    def execute() -> tuple[dict[str, Any], dict[str, Any]]:
        """The run's answer (its whole report) and the record the idempotency table keeps."""
        report = run(request, settings, services, remaining_ms=context.get_remaining_time_in_millis)
        record_metrics(metrics, report, whole_selection=request.scheduled)
        record_denied(metrics, services.opsworkscm.denied)
        alerts = services.followers.alerts
        record_central_failures(metrics, alerts.central_failed if alerts else 0)
        answer = report.to_json()
        _log_report(answer)
        return answer, RunRecord.of(report).to_json()

    if request.dry_run:
        return execute()[0]
    return once_per_slot(execute, request.idempotency_key, settings.idempotency_table, context)


# What the "run report" line leaves out: each server and each drill has a line of its own.
_OWN_LINES = ("results", "compliance", "drills")


def _log_report(report: dict[str, Any]) -> None:
    """The report in the function's log, where a scheduled run's can be found (the schedule
    keeps no answer, and a repeated delivery gets only its record) by its run_id: one line for
    the run; each server has its own line, "server outcome" (run/follow_up.py), and each drill,
    "drill outcome" (run/drills.py), so a large fleet's report never outgrows a log event
    (256 KB)."""
    logger.info(
        "run report",
        extra={"report": {k: v for k, v in report.items() if k not in _OWN_LINES}},
    )
