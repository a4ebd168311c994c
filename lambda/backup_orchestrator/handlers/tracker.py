"""The tracker's function: one poll of a run's backups (run/follow.py), its metrics, and the
next state for the tracker state machine."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.run.follow import Counts, poll, task_input
from backup_orchestrator.run.metrics import record_denied
from backup_orchestrator.run.task_answers import named_errors, task_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    """`event`: {"state": the tracker's state, "execution": its execution's ARN}. Raises
    BadTaskInput naming the field before any call when the event lacks one."""
    state, execution = task_input(event)
    logger.append_keys(run_id=state.get("runId"), execution=execution)
    service = task_service(get_settings().opsworkscm_rate)
    try:
        with named_errors():
            answer, counts = poll(
                state,
                service,
                execution,
                time_left=lambda: context.get_remaining_time_in_millis() / 1000,
            )
        _record(counts)
    finally:
        # Written only when the poll has something to say: most polls end nothing.
        record_denied(metrics, service.denied)
        if metrics.metric_set:
            metrics.flush_metrics()
    logger.info(
        "tracker poll",
        extra={
            "poll": answer["polls"],
            "followed": len(answer["backups"]),
            "ended": len(answer["results"]),
            "finished": answer["finished"],
        },
    )
    return answer


def _record(counts: Counts) -> None:
    """The poll's metrics (the alarms watch BackupsFailed and RetentionDeleteFailures)."""
    if counts.succeeded:
        metrics.add_metric("BackupsSucceeded", MetricUnit.Count, len(counts.succeeded))
        for seconds in counts.succeeded:
            metrics.add_metric("BackupDuration", MetricUnit.Seconds, seconds)
    if counts.failed:
        metrics.add_metric("BackupsFailed", MetricUnit.Count, counts.failed)
    if counts.refused:
        metrics.add_metric("RetentionDeleteFailures", MetricUnit.Count, counts.refused)
