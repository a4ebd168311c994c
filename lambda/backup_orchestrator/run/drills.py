"""Restore drills from a scheduled run: drill servers left over are deleted first, then the due
drills are started, each as an execution of the drill state machine.

The slot's own run does it (not its retries, not a dry run or a manual run), after its backups.
All of it is best effort for the run, whose backups are already started, but never silent: a
leftover that cannot be deleted is an URGENT alert (it costs money), and a due drill that does
not start says why in the report's `drills`. The decisions are domain/drills.py and
domain/drill_servers.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from backup_orchestrator.aws.errors import ERRORS
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.stepfunctions import (
    execution_arn,
    running_executions,
    start_execution,
)
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import DrillReport, RunReport
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import drill_servers, drills, history_budget, messages
from backup_orchestrator.domain.records import Backup, Server
from backup_orchestrator.run.services import Services

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient

logger = Logger(child=True)
# Below this much Lambda time left no drill is started: its reads and StartExecution must fit.
TIME_NEEDED_MS = 10_000
LEFT_RUNNING = "URGENT: OpsWorks CM restore drill server left running"


def after_backups(
    request: RunRequest,
    settings: Settings,
    services: Services,
    servers: Sequence[Server],
    backups: Sequence[Backup],
    report: RunReport,
    remaining_ms: Callable[[], int],
) -> list[DrillReport]:
    """The slot's own run's restore drills (see the module): what was deleted, started, skipped.

    `servers` are every server of the account with its tags (a scheduled run reads them all).
    """
    machine = settings.drill_state_machine_arn
    client = services.stepfunctions
    # Only a scheduled run's first attempt (never a dry run: scheduled runs are not dry).
    if not request.scheduled or request.attempt or machine is None or client is None:
        return []
    service = services.opsworkscm
    now = service.now()
    try:
        running: list[str] | None = running_executions(client, machine)
    except ERRORS as exc:
        logger.error("drill executions not listed", extra={"error": str(exc)})
        running = None
    left = drill_servers.leftovers(
        servers, now, machine=execution_arn(machine, ""), running_executions=running
    )
    reports = [_delete(service, leftover) for leftover in left]
    _alert_left([r for r in reports if r.outcome == "NOT_DELETED"], services)
    if not drills.wanted(servers, settings.select_tag, settings.restore_drill):
        return _logged(reports)
    history = services.followers.history
    problem: str | None = None
    if running is None:
        problem = "the running drills could not be listed"
    elif history is None:
        # Without the last drills every server would look due at every run: never guess.
        problem = "there is no history table (HISTORY_TABLE) to tell when a drill is due"
    elif remaining_ms() < TIME_NEEDED_MS:
        problem = "the run was close to its time limit"
    else:
        try:
            last = history.last_drills()
            quota = service.server_quota()
        except ERRORS as exc:
            problem = f"what planning needs could not be read ({exc})"
    if problem is not None:
        # Every server drills may concern hears why: a due one would otherwise go unexplained.
        return _logged(reports + _not_planned(servers, settings, problem))
    assert running is not None
    plan = drills.plan(
        servers,
        backups,
        now=now,
        run_id=request.run_id,
        select_tag=settings.select_tag,
        default=settings.restore_drill,
        last=last,
        running=drill_servers.running(servers, running, {lo.server.name for lo in left}),
        quota=quota,
        going={d.backup_id for r in report.results for d in (*r.deleted, *r.deferred_deletes)},
        roles=drills.Roles(settings.drill_service_role_arn, settings.drill_instance_profile_arn),
    )
    reports += [
        _start(client, machine, start, request.run_id, now, settings) for start in plan.starts
    ]
    reports += [
        DrillReport(server_name=s.source, outcome="SKIPPED", reason=s.reason) for s in plan.skips
    ]
    return _logged(reports)


def drill_input(
    start: drill_servers.Start,
    *,
    run_id: str,
    now: datetime,
    settings: Settings,
    execution_arn: str | None,
) -> dict[str, Any]:
    """The drill execution's input with the function's settings: its deadline, and its poll
    interval (POLL_SECONDS, or longer when a drill to the deadline would not fit its history)."""
    return drill_servers.execution_input(
        start,
        run_id=run_id,
        now=now,
        poll_seconds=history_budget.drill_poll_seconds(
            settings.drill_deadline_seconds, settings.poll_seconds
        ),
        deadline_seconds=settings.drill_deadline_seconds,
        execution_arn=execution_arn,
    )


def _start(
    client: SFNClient,
    machine: str,
    start: drill_servers.Start,
    run_id: str,
    now: datetime,
    settings: Settings,
) -> DrillReport:
    arn = execution_arn(machine, start.execution)
    payload = drill_input(start, run_id=run_id, now=now, settings=settings, execution_arn=arn)
    report = DrillReport(
        server_name=start.source.name,
        outcome="STARTED",
        reason=f"due: restoring backup {start.backup.backup_id} into {start.drill_server}",
        drill_server=start.drill_server,
        backup_id=start.backup.backup_id,
        execution_arn=arn,
    )
    try:
        start_execution(client, machine, start.execution, payload)
    except ERRORS as exc:
        report.outcome = "FAILED"
        report.reason = f"due, but the drill could not be started: {exc}"
        report.execution_arn = None
    return report


def _delete(service: OpsWorksCM, leftover: drill_servers.Leftover) -> DrillReport:
    name = leftover.server.name
    report = DrillReport(
        server_name=leftover.source,
        outcome="DELETED",
        reason=f"drill server {name} left over ({leftover.reason}): deleting it",
        drill_server=name,
        backup_id=leftover.server.tags.get(drill_servers.DRILL_BACKUP),
    )
    try:
        if not service.delete_server(name):
            report.reason = f"drill server {name} left over ({leftover.reason}): already gone"
    except ERRORS as exc:
        report.outcome = "NOT_DELETED"
        report.reason = (
            f"drill server {name} left over ({leftover.reason}) could not be deleted: {exc}"
        )
    return report


def _not_planned(servers: Sequence[Server], settings: Settings, problem: str) -> list[DrillReport]:
    return [
        DrillReport(
            server_name=s.name,
            outcome="SKIPPED",
            reason=f"restore drills were not planned: {problem}; the next run tries again",
        )
        for s in servers
        if drills.drilled_every(s, settings.select_tag, settings.restore_drill) is not None
    ]


def _alert_left(failed: list[DrillReport], services: Services) -> None:
    """The URGENT alert about drill servers still running that could not be deleted."""
    alerts = services.followers.alerts
    if not failed or alerts is None:
        return
    head = [
        f"{len(failed)} OpsWorks CM restore drill server(s) are still running and could not be "
        "deleted; they cost money until they are gone:",
        "",
    ]
    said = [(r, messages.cut(r.reason, messages.REASON_BYTES)) for r in failed]
    blocks = [[f"- {r.drill_server} (a drill of {r.server_name}): {why}"] for r, why in said]
    tail = [
        "",
        "What to do: delete each now (aws opsworkscm delete-server --server-name NAME) and check "
        "that it is gone (aws opsworkscm describe-servers). The next scheduled run tries again.",
    ]
    try:
        alerts.publish(LEFT_RUNNING, messages.bounded(head, blocks, tail, more=_more_left))
    except ERRORS as exc:
        logger.error("drill cleanup alert not published", extra={"error": str(exc)})


def _more_left(left: int) -> str:
    return (
        f"- ... and {left} more, not listed here (one alert holds 256 KiB): every drill server "
        "is named drill-...: aws opsworkscm describe-servers lists them, and the orchestrator "
        'function\'s log has a "drill outcome" line for each, with "outcome": "NOT_DELETED".'
    )


def _logged(reports: list[DrillReport]) -> list[DrillReport]:
    """One structured log line per drill the run was about."""
    for r in reports:
        logger.info(
            "drill outcome",
            extra={
                "server": r.server_name,
                "outcome": r.outcome,
                "reason": r.reason,
                "drill_server": r.drill_server,
                "backup_id": r.backup_id,
                "execution": r.execution_arn,
            },
        )
    return reports
