"""A run's real work: make room under the account's manual-backup limit right before each
backup that needs it, start the backups side by side, and count the quota as the service does.

Every server's trouble stays its own (safety rule 9): a refused deletion is a warning, a refused
backup is that server's outcome with the reason, and a server not started for lack of time says
so. Then the started backups go to the tracker (handover.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from backup_orchestrator.aws.errors import (
    ERRORS,
    CallFailed,
    OutcomeUnknown,
    error_code,
    error_message,
)
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import DeletionReport, QuotaReport, RunReport
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import marker, planner
from backup_orchestrator.domain.records import Backup, Outcome
from backup_orchestrator.run.handover import hand_over
from backup_orchestrator.run.results import deletions, result
from backup_orchestrator.run.services import Services

logger = Logger(child=True)

# Below this much Lambda time left, no new server is started: a CreateBackup with its retries
# and the tracker hand-over must still fit.
TIMEOUT_MARGIN_MS = 20_000
WORKERS = 4


def execute(
    request: RunRequest,
    settings: Settings,
    services: Services,
    plan: planner.Plan,
    remaining_ms: Callable[[], int],
) -> RunReport:
    service = services.opsworkscm
    results = {item.server_name: result(item, dry_run=False) for item in plan.servers}
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
        result.deferred_deletes = deletions(item.deferred)

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
        hand_over(report, started, settings, services.stepfunctions)
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
    if isinstance(exc, CallFailed):
        return Outcome.FAILED, f"not backed up: {exc}"
    if not isinstance(exc, ClientError):
        return Outcome.FAILED, f"not backed up: could not reach OpsWorks CM: {exc}"
    code = error_code(exc)
    message = error_message(exc)
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
