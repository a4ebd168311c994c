"""What a run talks to: the OpsWorks CM adapter, Step Functions, and the optional pieces the
steps after it use (the retry schedule, the alert topic, the history table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from backup_orchestrator.aws.alerts import Alerts
from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.history import History
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.scheduler import RetryTarget
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import retry_timing
from backup_orchestrator.domain.compliance import RunEntry

if TYPE_CHECKING:
    from types_boto3_scheduler import EventBridgeSchedulerClient as SchedulerClient
    from types_boto3_stepfunctions import SFNClient

logger = Logger(child=True)


@dataclass
class Followers:
    """The clients the steps after a run use; each is optional (the CLI has none of them)."""

    scheduler: SchedulerClient | None = None
    retry_target: RetryTarget | None = None
    alerts: Alerts | None = None
    history: History | None = None

    def can_retry(self, request: RunRequest, settings: Settings) -> bool:
        """Whether busy servers of this run are tried again later in its slot."""
        window = timedelta(minutes=settings.retry_window_minutes)
        return (
            request.scheduled
            and not request.dry_run
            and self.scheduler is not None
            and self.retry_target is not None
            and request.attempt < retry_timing.tries_in(window)
        )

    def remembered(self) -> dict[str, list[RunEntry]]:
        """What the last runs did about each server; nothing when it cannot be read (logged)."""
        if self.history is None:
            return {}
        try:
            return self.history.load()
        except ERRORS as exc:
            logger.error("history not read", extra={"error": str(exc)})
            return {}


@dataclass
class Services:
    opsworkscm: OpsWorksCM
    stepfunctions: SFNClient | None = None
    followers: Followers = field(default_factory=Followers)
