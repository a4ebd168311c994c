"""The hand-over: a run's started backups go to the tracker state machine, which follows each
to OK or FAILED and applies its deferred deletions. A hand-over that fails is the run's
`trackerError` and its metric, never silence."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.stepfunctions import start_trackers
from backup_orchestrator.contract.report import RunReport, ServerResult
from backup_orchestrator.contract.settings import Settings

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient

logger = Logger(child=True)


def hand_over(
    report: RunReport, started: list[ServerResult], settings: Settings, client: SFNClient
) -> None:
    assert settings.tracker_state_machine_arn is not None
    backups: list[dict[str, Any]] = [
        {
            "serverName": r.server_name,
            "backupId": r.backup_id,
            "deferredDeletes": [d.backup_id for d in r.deferred_deletes],
        }
        for r in started
    ]
    try:
        arns = start_trackers(
            client,
            settings.tracker_state_machine_arn,
            report.run_id,
            backups,
            poll_seconds=settings.poll_seconds,
            deadline_seconds=settings.deadline_seconds,
        )
        report.tracker_execution_arn = arns[0]
        report.tracker_execution_arns = arns
    except ERRORS as exc:
        report.tracker_error = f"could not start the tracker: {exc}"
        # pragma: no mutate block (a diagnostic; trackerError and its metric are tested)
        logger.error("tracker not started", extra={"error": str(exc)})
