"""One run: discover the fleet, plan, then make room and start backups (or, in a dry run, say
what a real run would do), follow up, and start the due restore drills."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from aws_lambda_powertools import Logger

from backup_orchestrator.contract.events import InvalidRequestError, RunRequest
from backup_orchestrator.contract.report import RunReport
from backup_orchestrator.contract.settings import Settings
from backup_orchestrator.domain import planner
from backup_orchestrator.run import drills
from backup_orchestrator.run.follow_up import follow_up
from backup_orchestrator.run.proof import proven_plan
from backup_orchestrator.run.results import dry_run_report, orphan, ownership
from backup_orchestrator.run.services import Services
from backup_orchestrator.run.start import execute

logger = Logger(child=True)


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
        retention=settings.tiers,
        prune_scope=settings.prune_scope,
        servers=request.servers,
        retention_override=request.retention,
        run_id=request.run_id,
        zone=settings.zone,
        within=request.retrying,
        retry_busy=followers.can_retry(request, settings),
        retried=request.attempt > 0,
        waiting_for_room=request.waiting_for_room,
    )
    plan, backups = proven_plan(service, tagged, backups, quota, policy)
    orphans = [orphan(b) for b in planner.orphaned(servers, backups)]
    # pragma: no mutate block (a diagnostic: what a run does is in its report, tested)
    logger.info(
        "planned run",
        extra={
            "creating": [p.server_name for p in plan.creating],
            "delete_now": [d.backup_id for d in plan.delete_now],
            "quota": dataclasses.asdict(quota),
            # Deletions an earlier try made that the plan counts as room on its way (room.py).
            "room_on_its_way": plan.coming,
            "backups_of_deleted_servers": len(orphans),
        },
    )
    if request.dry_run:
        report = dry_run_report(request, plan)
    else:
        report = execute(request, settings, services, plan, remaining_ms)
    report.backups_of_deleted_servers = orphans
    report.ownership = ownership(report)
    follow_up(
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
    report.drills = drills.after_backups(
        request, settings, services, tagged, backups, report, remaining_ms
    )
    return report
