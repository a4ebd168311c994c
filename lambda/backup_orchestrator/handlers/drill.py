"""The restore drill's function: each OpsWorks CM call of the drill state machine, one task per
invocation (run/drill_tasks.py), answered or ended in a named error the definition catches."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.run.drill_tasks import drill_task
from backup_orchestrator.run.metrics import record_denied
from backup_orchestrator.run.task_answers import task_service

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=True, clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    service = task_service(get_settings().opsworkscm_rate)
    try:
        return drill_task(event, service)
    finally:
        record_denied(metrics, service.denied)
        if metrics.metric_set:
            metrics.flush_metrics()
