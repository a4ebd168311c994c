"""The plan as the report tells it: what each planned part is reported as before anything is
done, a dry run's whole report, and the backups of deleted servers."""

from __future__ import annotations

from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import (
    DeletionReport,
    KeptReport,
    OrphanReport,
    OwnershipReport,
    QuotaReport,
    RetainReport,
    RunReport,
    ServerResult,
)
from backup_orchestrator.domain import planner
from backup_orchestrator.domain.records import Backup, Outcome


def dry_run_report(request: RunRequest, plan: planner.Plan) -> RunReport:
    return RunReport(
        run_id=request.run_id,
        dry_run=True,
        quota=QuotaReport(
            used=plan.quota.used,
            maximum=plan.quota.maximum,
            used_after_run=plan.used_after_run,
            used_when_settled=plan.used_when_settled,
        ),
        results=[result(item, dry_run=True) for item in plan.servers],
    )


def orphan(backup: Backup) -> OrphanReport:
    return OrphanReport(
        backup_id=backup.backup_id,
        server_name=backup.server_name,
        created_at=backup.created_at,
        status=backup.status,
        own=backup.is_own,
    )


def deletions(items: list[planner.Deletion]) -> list[DeletionReport]:
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


def result(item: planner.ServerPlan, *, dry_run: bool) -> ServerResult:
    result = ServerResult(
        server_name=item.server_name,
        outcome=_OUTCOMES[item.action],
        reason=item.reason,
        backup_id=item.backup_id,
        retain=RetainReport(
            asked=item.retain_asked,
            granted=item.retain_granted,
            tiers_asked=_words(item.tiers_asked),
            tiers_granted=_words(item.tiers_granted),
            tier=_words(item.tier),
        ),
        not_proven=[
            KeptReport(
                backup_id=k.backup_id, reason=k.reason, awaiting_adoption=k.awaiting_adoption
            )
            for k in item.not_proven
        ],
        # Busy again while room made for it is being freed: the next try keeps it for it.
        waiting_for_room=item.action is planner.Action.RETRY and item.waiting_for_room,
    )
    if item.action is planner.Action.ADOPT:
        result.deferred_deletes = deletions(item.deferred)
    if item.create and dry_run:
        result.outcome = Outcome.PLANNED
        result.reason = f"would start a backup; {item.reason}"
        result.deleted = deletions(item.delete_now)
        result.deferred_deletes = deletions(item.deferred)
    elif item.create:
        result.reason = "not started"
    return result


def _words(value: object | None) -> str | None:
    return None if value is None else str(value)


def ownership(report: RunReport) -> OwnershipReport | None:
    """How many backups the run kept because their run tag does not prove the marker, and how
    much of the limit they hold; None when there are none."""
    kept = [k for r in report.results for k in r.not_proven]
    if not kept:
        return None
    return OwnershipReport(
        not_proven=len(kept),
        awaiting_adoption=sum(k.awaiting_adoption for k in kept),
        limit_held=f"{len(kept)} of {report.quota.maximum}",
    )
