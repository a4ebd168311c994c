"""One run: discover the fleet, plan, make room, start backups, hand them to the tracker."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from backup_orchestrator import planner
from backup_orchestrator.events import InvalidRequestError, RunRequest
from backup_orchestrator.models import GONE, Backup, Outcome, Server, own_description, run_marker
from backup_orchestrator.opsworkscm import OpsWorksCM, error_code
from backup_orchestrator.report import (
    DeletionReport,
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


@dataclass
class Services:
    opsworkscm: OpsWorksCM
    stepfunctions: SFNClient | None = None


def _unlimited() -> int:
    return 2**31


def run(
    request: RunRequest,
    settings: Settings,
    services: Services,
    *,
    remaining_ms: Callable[[], int] = _unlimited,
) -> RunReport:
    """Run once. Raises InvalidRequestError when a named server does not exist."""
    service = services.opsworkscm
    servers = service.servers()
    policy = planner.Policy(
        select_tag=settings.select_tag,
        retain=settings.retain,
        prune_scope=settings.prune_scope,
        servers=request.servers,
        retain_override=request.retain,
    )
    try:
        # Reject unknown names before anything else is read or changed.
        planner.check_named(servers, request.servers)
    except planner.PlanningError as exc:
        raise InvalidRequestError(f"invalid event: {exc}") from None
    backups = service.backups()
    quota = service.manual_backup_quota()
    # A retried delivery of this run (the first attempt died after CreateBackup) finds the
    # backups that attempt started: they are followed, never made a second time.
    marker = run_marker(request.run_id)
    adopted = {b.server_name: b for b in backups if b.description.startswith(marker)}
    policy = dataclasses.replace(policy, already_started=frozenset(adopted))
    wanted = (
        servers if request.servers is None else [s for s in servers if s.name in request.servers]
    )
    with ThreadPoolExecutor(WORKERS) as pool:
        tagged = list(pool.map(lambda s: _with_tags(service, s), wanted))
    plan = planner.plan(tagged, backups, quota, policy)
    logger.info(
        "planned run",
        extra={
            "creating": [p.server_name for p in plan.creating],
            "delete_now": [d.backup_id for d in plan.delete_now],
            "quota": dataclasses.asdict(quota),
        },
    )
    if request.dry_run:
        return _dry_run_report(request, plan)
    return _execute(request, settings, services, plan, adopted, remaining_ms)


def _with_tags(service: OpsWorksCM, server: Server) -> Server:
    try:
        return dataclasses.replace(server, tags=service.tags(server))
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return dataclasses.replace(server, status=GONE)
        raise


def _deletions(items: list[planner.Deletion]) -> list[DeletionReport]:
    return [DeletionReport(backup_id=d.backup_id, reason=d.reason) for d in items]


def _base_result(item: planner.ServerPlan, outcome: Outcome, reason: str) -> ServerResult:
    return ServerResult(
        server_name=item.server_name,
        outcome=outcome,
        reason=reason,
        retain=RetainReport(asked=item.retain_asked, granted=item.retain_granted),
    )


def _dry_run_report(request: RunRequest, plan: planner.Plan) -> RunReport:
    results = []
    for item in plan.servers:
        if item.create:
            result = _base_result(item, Outcome.PLANNED, f"would start a backup; {item.reason}")
            result.deleted = _deletions(item.delete_now)
            result.deferred_deletes = _deletions(item.deferred)
        else:
            result = _base_result(item, Outcome.SKIPPED, item.reason)
        results.append(result)
    return RunReport(
        run_id=request.run_id,
        dry_run=True,
        quota=QuotaReport(
            used=plan.quota.used,
            maximum=plan.quota.maximum,
            used_after_run=plan.used_after_run,
            used_when_settled=plan.used_when_settled,
        ),
        results=results,
    )


def _execute(
    request: RunRequest,
    settings: Settings,
    services: Services,
    plan: planner.Plan,
    adopted: dict[str, Backup],
    remaining_ms: Callable[[], int],
) -> RunReport:
    service = services.opsworkscm
    results = {
        item.server_name: _base_result(item, Outcome.SKIPPED, item.reason) for item in plan.servers
    }
    for name, backup in adopted.items():
        if name in results:
            results[name].outcome = Outcome.STARTED
            results[name].backup_id = backup.backup_id
            results[
                name
            ].reason = "backup started by an earlier attempt of this run; it is followed now"
    room = _room_makers(plan)

    def delete(deletion: planner.Deletion) -> None:
        owner = results[deletion.server_name]
        try:
            if service.delete_backup(deletion.backup_id):
                owner.deleted.append(
                    DeletionReport(backup_id=deletion.backup_id, reason=deletion.reason)
                )
            else:
                owner.warnings.append(f"{deletion.backup_id} was already gone or being deleted")
        except (ClientError, BotoCoreError) as exc:
            owner.warnings.append(f"could not delete {deletion.backup_id}: {exc}")
            logger.warning(
                "delete failed", extra={"backup_id": deletion.backup_id, "error": str(exc)}
            )

    description = own_description(
        request.run_id,
        request.description or ("scheduled backup" if request.scheduled else "manual backup"),
    )

    def create(item: planner.ServerPlan) -> None:
        result = results[item.server_name]
        left = remaining_ms()
        if left < TIMEOUT_MARGIN_MS:
            result.reason = (
                f"not started: the run was close to its time limit ({left // 1000} s left); "
                "the next run includes this server"
            )
            return
        # Room is made right before the backup that needs it, so a server that is not started
        # costs no deletion.
        for deletion in room.get(item.server_name, []):
            delete(deletion)
        try:
            backup = service.create_backup(item.server_name, description)
        except (ClientError, BotoCoreError) as exc:
            result.outcome, result.reason = _refusal(exc)
            logger.warning(
                "backup not started", extra={"server": item.server_name, "reason": result.reason}
            )
            return
        result.outcome = Outcome.STARTED
        result.backup_id = backup.backup_id
        result.reason = f"backup started; {item.reason}"
        result.deferred_deletes = _deletions(item.deferred)

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(create, plan.creating))

    started = [r for r in results.values() if r.outcome is Outcome.STARTED]
    deleted = sum(len(r.deleted) for r in results.values())
    used_after = plan.quota.used - deleted + len(started)
    report = RunReport(
        run_id=request.run_id,
        dry_run=False,
        quota=QuotaReport(
            used=plan.quota.used,
            maximum=plan.quota.maximum,
            used_after_run=used_after,
            used_when_settled=used_after - sum(len(r.deferred_deletes) for r in started),
        ),
        results=[results[item.server_name] for item in plan.servers],
    )
    if started and settings.tracker_state_machine_arn and services.stepfunctions is not None:
        _hand_over(report, started, settings, services.stepfunctions)
    return report


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


def _refusal(exc: ClientError | BotoCoreError) -> tuple[Outcome, str]:
    """Turn a CreateBackup error into this server's outcome, in plain words."""
    if not isinstance(exc, ClientError):
        return Outcome.FAILED, f"could not reach OpsWorks CM: {exc}"
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "")
    if code == "InvalidStateException":
        return Outcome.SKIPPED, f"skipped: the server changed state during the run ({message})"
    if code == "ResourceNotFoundException":
        return Outcome.SKIPPED, "skipped: the server no longer exists"
    if code == "LimitExceededException":
        return Outcome.FAILED, (
            "failed: the account's manual-backup limit was still full after making room "
            f"({message})"
        )
    return Outcome.FAILED, f"failed: OpsWorks CM answered {code}: {message}"


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
        logger.error("tracker not started", extra={"error": str(exc)})
