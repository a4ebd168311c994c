"""A run's real work: make room under the account's manual-backup limit right before each
backup that needs it, start the backups side by side, wait for the room still being freed, and
count the quota as the service does.

Every server's trouble stays its own (safety rule 9): a refused deletion is a warning, a refused
backup is that server's outcome with the reason, and a server not started for lack of time says
so. A backup refused for the limit while the room made for it is still being freed (a service
that counts a backup until its deletion ends, safety rule 14) waits with the others refused so,
until the run's budget for waiting ends; one whose room is still on its way then is RETRYING in
its slot, the room kept for it (domain/room.py), or FAILED where the slot cannot be tried again.
Then the started backups go to the tracker (handover.py).
"""

from __future__ import annotations

import math
import threading
import time
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
from backup_orchestrator.domain import marker, ownership, planner, room
from backup_orchestrator.domain.records import Backup, Outcome
from backup_orchestrator.domain.tiers import Tier
from backup_orchestrator.run.handover import hand_over
from backup_orchestrator.run.results import deletions, result
from backup_orchestrator.run.services import Services

logger = Logger(child=True)

# Below this much Lambda time left, no new server is started and nothing more is waited for: a
# CreateBackup with its retries and the tracker hand-over must still fit.
TIMEOUT_MARGIN_MS = 20_000
WORKERS = 4


class WaitingBudget:
    """The run's budget for waiting for room: until the Lambda time left is TIMEOUT_MARGIN_MS,
    on the `monotonic` clock, as the earliest look at the time left (`look`) puts it."""

    def __init__(self, remaining_ms: Callable[[], int], monotonic: Callable[[], float]) -> None:
        self._remaining_ms = remaining_ms
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.end = math.inf

    def look(self) -> int:
        """The Lambda time left (ms); the budget ends no later than it says."""
        left = self._remaining_ms()
        end = self._monotonic() + (left - TIMEOUT_MARGIN_MS) / 1000
        with self._lock:
            self.end = min(self.end, end)
        return left

    def seconds_left(self) -> float:
        return max(0.0, self.end - self._monotonic())


def execute(
    request: RunRequest,
    settings: Settings,
    services: Services,
    plan: planner.Plan,
    remaining_ms: Callable[[], int],
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> RunReport:
    service = services.opsworkscm
    results = {item.server_name: result(item, dry_run=False) for item in plan.servers}
    # Those waiting for room made for them earlier in the slot first (the room is theirs).
    creating = plan.creating
    makers = _room_makers(plan)
    # Set once room this run waits for is on its way (it deleted a backup, or the plan counts
    # deletions an earlier try made): a full limit may then be waiting only for those.
    made_room = threading.Event()
    if plan.coming:
        made_room.set()
    budget = WaitingBudget(remaining_ms, monotonic)
    # The servers refused for the limit while room was on its way, with the refusal.
    waiting: list[tuple[planner.ServerPlan, ClientError]] = []
    waiting_lock = threading.Lock()

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

    text = request.description or ("scheduled backup" if request.scheduled else "manual backup")

    def start(item: planner.ServerPlan, room_within: Callable[[], float]) -> ClientError | None:
        """Start the server's backup (waiting up to `room_within()` for room when the limit is
        full); the refusal when the limit stayed full while room was on its way, else None (the
        outcome is the server's)."""
        result = results[item.server_name]
        try:
            backup = service.create_backup(
                item.server_name,
                marker.description(request.run_id, text, item.tier),
                tags=ownership.creation_tags(request.run_id, item.tier or Tier.DAILY),
                room_within=room_within,
            )
        except ERRORS as exc:
            if isinstance(exc, ClientError) and _limit_full(exc) and made_room.is_set():
                return exc
            result.outcome, result.reason = _refusal(exc)
            if isinstance(exc, ClientError) and error_code(exc) == "InvalidStateException":
                # Another run of this product may have just started this server's backup.
                running = _own_running(service, item.server_name)
                if running is not None:
                    result.outcome, result.reason = Outcome.SKIPPED, planner.running_reason(running)
            return None
        result.outcome = Outcome.STARTED
        result.backup_id = backup.backup_id
        result.reason = f"backup started; {item.reason}"
        result.deferred_deletes = deletions(item.deferred)
        return None

    def create(item: planner.ServerPlan) -> None:
        result = results[item.server_name]
        left = budget.look()
        if left < TIMEOUT_MARGIN_MS:
            result.reason = (
                f"not backed up: the run was close to its time limit ({left // 1000} s left); "
                "the next run includes this server"
            )
            return
        # Room is made right before the backup that needs it, so a server that is not started
        # costs no deletion.
        for deletion in makers[item.server_name]:
            delete(deletion)
        # No waiting here: a worker waiting for room would keep the servers after it waiting.
        refused = start(item, lambda: 0.0)
        if refused is not None:
            with waiting_lock:
                waiting.append((item, refused))

    def wait_for_room() -> None:
        """Start the backups refused for the limit while room was on its way, one after the
        other as room appears, until the run's budget for waiting ends; then each one still
        waiting is RETRYING in its slot (the room kept for it) or, where the slot is not tried
        again, FAILED (domain/room.py)."""
        order = {item.server_name: i for i, item in enumerate(creating)}
        waiting.sort(key=lambda w: order[w[0].server_name])
        waited = budget.seconds_left()
        still: ClientError | None = None
        for item, _ in waiting:
            if still is None:
                # Once one has waited out the budget, the rest are not asked again.
                still = start(item, budget.seconds_left)
                if still is None:
                    continue
            outcome, reason = room.after_waiting(
                error_message(still),
                waited,
                retry_in_slot=services.followers.can_retry(request, settings),
                retried=request.attempt > 0,
            )
            answer = results[item.server_name]
            answer.outcome, answer.reason = outcome, reason
            answer.waiting_for_room = outcome is Outcome.RETRYING

    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(create, creating))
    if waiting:
        wait_for_room()

    started = [r for r in results.values() if r.outcome is Outcome.STARTED]
    created = sum(results[item.server_name].outcome is Outcome.STARTED for item in creating)
    deleted = sum(len(r.deleted) for r in results.values())
    # Once every deletion has ended, this run's and the earlier ones it waited for.
    settled = plan.quota.used - plan.coming - deleted + created
    report = RunReport(
        run_id=request.run_id,
        dry_run=False,
        quota=QuotaReport(
            used=plan.quota.used,
            maximum=plan.quota.maximum,
            used_after_run=(_used_now(service, settled) if created or deleted else plan.quota.used),
            used_when_settled=settled - sum(len(r.deferred_deletes) for r in started),
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
    """Which creator makes which room: the first creators (those waiting for room made for them
    earlier in the slot first) use the free slots and the room still on its way to them; each
    later one deletes one backup first. Deletions beyond that (the account is over its limit)
    go first."""
    creators = [item.server_name for item in plan.creating]
    pending = list(plan.delete_now)
    free = max(0, plan.room.maximum - plan.room.used)
    needing = creators[free:]
    room: dict[str, list[planner.Deletion]] = {name: [] for name in creators}
    extra = len(pending) - len(needing)
    if creators and extra > 0:
        room[creators[0]] += pending[:extra]
        pending = pending[extra:]
    for name, deletion in zip(needing, pending, strict=False):
        room[name].append(deletion)
    return room


def _limit_full(exc: ClientError) -> bool:
    return error_code(exc) == "LimitExceededException"


def _refusal(exc: Exception) -> tuple[Outcome, str]:
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
        # No room was on its way (none was made for it): waiting would not bring any.
        return Outcome.FAILED, (
            f"not backed up: the account's manual-backup limit was still full ({message})"
        )
    return Outcome.FAILED, f"not backed up: OpsWorks CM answered {code}: {message}"
