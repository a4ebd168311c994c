"""One run: discover the fleet, plan, make room, start backups, hand them to the tracker."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from backup_orchestrator import after_run, drill_runner, marker, planner
from backup_orchestrator.events import InvalidRequestError, RunRequest
from backup_orchestrator.models import Backup, Outcome
from backup_orchestrator.opsworkscm import OpsWorksCM, OutcomeUnknown, error_code
from backup_orchestrator.report import (
    DeletionReport,
    OrphanReport,
    QuotaReport,
    RetainReport,
    RunReport,
    ServerResult,
)
from backup_orchestrator.settings import Settings
from backup_orchestrator.tracker import start_trackers

if TYPE_CHECKING:
    from types_boto3_stepfunctions import SFNClient

logger = Logger(child=True)

# Below this much Lambda time left, no new server is started: a CreateBackup with its retries
# and the tracker hand-over must still fit.
TIMEOUT_MARGIN_MS = 20_000
WORKERS = 4
ERRORS = (ClientError, BotoCoreError, OutcomeUnknown)


@dataclass
class Services:
    opsworkscm: OpsWorksCM
    stepfunctions: SFNClient | None = None
    followers: after_run.Followers = field(default_factory=after_run.Followers)


def _unlimited() -> int:
    return 2**31


def run(
    request: RunRequest,
    settings: Settings,
    services: Services,
    *,
    remaining_ms: Callable[[], int] = _unlimited,
) -> RunReport:
    """Run once. Raises InvalidRequestError when a named server does not exist.

    Only the account-wide reads (DescribeServers, DescribeBackups, DescribeAccountAttributes)
    can fail the run; anything about one server fails that server alone, with the reason.
    """
    service = services.opsworkscm
    servers = service.servers()
    try:
        # Reject unknown names before anything else is read or changed.
        planner.check_named(servers, request.servers)
    except planner.PlanningError as exc:
        raise InvalidRequestError(f"invalid event: {exc}") from None
    backups = service.backups()
    quota = service.manual_backup_quota()
    wanted = (
        servers if request.servers is None else [s for s in servers if s.name in request.servers]
    )
    tagged = service.with_tags(wanted)
    followers = services.followers
    remembered = followers.remembered()
    policy = planner.Policy(
        select_tag=settings.select_tag,
        retain=settings.retain,
        prune_scope=settings.prune_scope,
        servers=request.servers,
        retain_override=request.retain,
        run_id=request.run_id,
        within=request.retrying,
        retry_busy=followers.can_retry(request, settings),
        retried=request.attempt > 0,
    )
    plan = planner.plan(tagged, backups, quota, policy)
    orphans = [_orphan(b) for b in planner.orphaned(servers, backups)]
    # pragma: no mutate block (a diagnostic: what a run does is in its report, tested)
    logger.info(
        "planned run",
        extra={
            "creating": [p.server_name for p in plan.creating],
            "delete_now": [d.backup_id for d in plan.delete_now],
            "quota": dataclasses.asdict(quota),
            "backups_of_deleted_servers": len(orphans),
        },
    )
    if request.dry_run:
        report = _dry_run_report(request, plan)
    else:
        report = _execute(request, settings, services, plan, remaining_ms)
    report.backups_of_deleted_servers = orphans
    after_run.follow_up(
        report,
        request,
        settings,
        followers,
        tagged,
        backups,
        remembered,
        now=service.now(),
        retry_busy=policy.retry_busy,
    )
    report.drills = drill_runner.after_backups(
        request, settings, services, tagged, backups, report, remaining_ms
    )
    return report


def _dry_run_report(request: RunRequest, plan: planner.Plan) -> RunReport:
    return RunReport(
        run_id=request.run_id,
        dry_run=True,
        quota=QuotaReport(
            used=plan.quota.used,
            maximum=plan.quota.maximum,
            used_after_run=plan.used_after_run,
            used_when_settled=plan.used_when_settled,
        ),
        results=[_result(item, dry_run=True) for item in plan.servers],
    )


def _orphan(backup: Backup) -> OrphanReport:
    return OrphanReport(
        backup_id=backup.backup_id,
        server_name=backup.server_name,
        created_at=backup.created_at,
        status=backup.status,
        own=backup.is_own,
    )


def _deletions(items: list[planner.Deletion]) -> list[DeletionReport]:
    return [DeletionReport(backup_id=d.backup_id, reason=d.reason) for d in items]


# What each planned part is reported as before anything is done. A CREATE stays FAILED unless
# its backup starts, so a server can never be missed silently.
_OUTCOMES = {
    planner.Action.ADOPT: Outcome.STARTED,
    planner.Action.NOTHING: Outcome.SKIPPED,
    planner.Action.RETRY: Outcome.RETRYING,
    planner.Action.FAIL: Outcome.FAILED,
    planner.Action.CREATE: Outcome.FAILED,
}


def _result(item: planner.ServerPlan, *, dry_run: bool) -> ServerResult:
    result = ServerResult(
        server_name=item.server_name,
        outcome=_OUTCOMES[item.action],
        reason=item.reason,
        backup_id=item.backup_id,
        retain=RetainReport(asked=item.retain_asked, granted=item.retain_granted),
    )
    if item.action is planner.Action.ADOPT:
        result.deferred_deletes = _deletions(item.deferred)
    if item.create and dry_run:
        result.outcome = Outcome.PLANNED
        result.reason = f"would start a backup; {item.reason}"
        result.deleted = _deletions(item.delete_now)
        result.deferred_deletes = _deletions(item.deferred)
    elif item.create:
        result.reason = "not started"
    return result


def _execute(
    request: RunRequest,
    settings: Settings,
    services: Services,
    plan: planner.Plan,
    remaining_ms: Callable[[], int],
) -> RunReport:
    service = services.opsworkscm
    results = {item.server_name: _result(item, dry_run=False) for item in plan.servers}
    room = _room_makers(plan)
    # Set once this run has started deleting a backup: a full limit may then be waiting only
    # for those deletions to finish.
    made_room = threading.Event()

    def delete(deletion: planner.Deletion) -> None:
        owner = results[deletion.server_name]
        try:
            if service.delete_backup(deletion.backup_id):
                made_room.set()
                owner.deleted.append(
                    DeletionReport(backup_id=deletion.backup_id, reason=deletion.reason)
                )
            else:
                owner.warnings.append(f"{deletion.backup_id} was already gone or being deleted")
        except ERRORS as exc:
            owner.warnings.append(f"could not delete {deletion.backup_id}: {exc}")

    description = marker.description(
        request.run_id,
        request.description or ("scheduled backup" if request.scheduled else "manual backup"),
    )

    def create(item: planner.ServerPlan) -> None:
        result = results[item.server_name]
        left = remaining_ms()
        if left < TIMEOUT_MARGIN_MS:
            result.reason = (
                f"not backed up: the run was close to its time limit ({left // 1000} s left); "
                "the next run includes this server"
            )
            return
        # Room is made right before the backup that needs it, so a server that is not started
        # costs no deletion.
        for deletion in room[item.server_name]:
            delete(deletion)
        budget = (left - TIMEOUT_MARGIN_MS) / 1000

        def room_within() -> float:
            # Worth waiting only for deletions this run made (asked when the limit refuses).
            return budget if made_room.is_set() else 0.0

        try:
            backup = service.create_backup(item.server_name, description, room_within=room_within)
        except ERRORS as exc:
            result.outcome, result.reason = _refusal(exc, room_within())
            if isinstance(exc, ClientError) and error_code(exc) == "InvalidStateException":
                # Another run of this product may have just started this server's backup.
                running = _own_running(service, item.server_name)
                if running is not None:
                    result.outcome, result.reason = Outcome.SKIPPED, planner.running_reason(running)
            return
        result.outcome = Outcome.STARTED
        result.backup_id = backup.backup_id
        result.reason = f"backup started; {item.reason}"
        result.deferred_deletes = _deletions(item.deferred)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(create, plan.creating))

    started = [r for r in results.values() if r.outcome is Outcome.STARTED]
    created = sum(results[item.server_name].outcome is Outcome.STARTED for item in plan.creating)
    deleted = sum(len(r.deleted) for r in results.values())
    expected = plan.quota.used - deleted + created
    report = RunReport(
        run_id=request.run_id,
        dry_run=False,
        quota=QuotaReport(
            used=plan.quota.used,
            maximum=plan.quota.maximum,
            used_after_run=_used_now(service, expected) if created or deleted else expected,
            used_when_settled=expected - sum(len(r.deferred_deletes) for r in started),
        ),
        results=[results[item.server_name] for item in plan.servers],
    )
    if started and settings.tracker_state_machine_arn and services.stepfunctions is not None:
        _hand_over(report, started, settings, services.stepfunctions)
    return report


def _own_running(service: OpsWorksCM, server_name: str) -> Backup | None:
    try:
        return planner.own_running(service.backups(server_name))
    except ERRORS:
        return None


def _used_now(service: OpsWorksCM, expected: int) -> int:
    """The account's manual-backup count as the service says it after the run (a service may
    still count the backups being deleted); what the run expects when it cannot be read."""
    try:
        return service.manual_backup_quota().used
    except ERRORS as exc:
        # pragma: no mutate block (a diagnostic; the figure used instead is tested)
        logger.warning("quota not read after the run", extra={"error": str(exc)})
        return expected


def _room_makers(plan: planner.Plan) -> dict[str, list[planner.Deletion]]:
    """Which creator makes which room: the first creators use the free slots; each later one
    deletes one backup first. Deletions beyond that (the account is over its limit) go first."""
    creators = [item.server_name for item in plan.creating]
    pending = list(plan.delete_now)
    free = max(0, plan.quota.maximum - plan.quota.used)
    needing = creators[free:]
    room: dict[str, list[planner.Deletion]] = {name: [] for name in creators}
    extra = len(pending) - len(needing)
    if creators and extra > 0:
        room[creators[0]] += pending[:extra]
        pending = pending[extra:]
    for name, deletion in zip(needing, pending, strict=False):
        room[name].append(deletion)
    return room


def _refusal(exc: Exception, waited: float) -> tuple[Outcome, str]:
    """Turn a CreateBackup error into this server's outcome, in plain words."""
    if isinstance(exc, OutcomeUnknown):
        return Outcome.FAILED, f"not backed up as far as can be told: {exc}"
    if not isinstance(exc, ClientError):
        return Outcome.FAILED, f"not backed up: could not reach OpsWorks CM: {exc}"
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "")
    if code == "ResourceNotFoundException":
        return Outcome.SKIPPED, "the server no longer exists"
    if code == "InvalidStateException":
        return Outcome.FAILED, f"not backed up: the server changed state during the run ({message})"
    if code == "LimitExceededException":
        waiting = (
            f"; the deletions made for room were still counted after waiting {waited:.0f} s"
            if waited
            else ""
        )
        return Outcome.FAILED, (
            f"not backed up: the account's manual-backup limit was still full ({message}){waiting}"
        )
    return Outcome.FAILED, f"not backed up: OpsWorks CM answered {code}: {message}"


def _hand_over(
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
    except (ClientError, BotoCoreError) as exc:
        report.tracker_error = f"could not start the tracker: {exc}"
        # pragma: no mutate block (a diagnostic; trackerError and its metric are tested)
        logger.error("tracker not started", extra={"error": str(exc)})
