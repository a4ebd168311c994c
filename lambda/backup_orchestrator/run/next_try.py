"""The slot's next try for the servers a run left RETRYING (busy now, or waiting for room made for
them that is still being freed: the try names those, domain/room.py): a one-time schedule
(aws/scheduler.py) at the time domain/retry_timing.py gives. A try that cannot be scheduled
turns its servers FAILED, with the reason: no server is missed silently (safety rule 12)."""

from __future__ import annotations

from datetime import datetime, timedelta

from aws_lambda_powertools import Logger

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.scheduler import schedule_retry
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import NextTryReport, RunReport
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import retry_timing
from backup_orchestrator.domain.records import Outcome
from backup_orchestrator.run.services import Followers

logger = Logger(child=True)


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
    at = retry_timing.try_time(request.slot, attempt, window, now)
    names = [r.server_name for r in waiting]
    for_room = [r.server_name for r in waiting if r.waiting_for_room]
    try:
        schedule = schedule_retry(
            followers.scheduler,
            followers.retry_target,
            run_id=request.run_id,
            slot=request.slot,
            attempt=attempt,
            at=at,
            servers=names,
            waiting_for_room=for_room,
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
            f"{retry_timing.tries_in(window)}; the retry window ends {last:%H:%M} UTC)"
        )
    report.next_try = NextTryReport(
        attempt=attempt, at=at, servers=names, schedule=schedule, waiting_for_room=for_room
    )
