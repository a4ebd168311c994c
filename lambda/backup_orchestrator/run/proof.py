"""A plan whose every deletion is proven: ownership proven twice (domain/ownership.py).

The planner deletes only backups that carry the product's marker (unless pruning every manual
backup is opted in). Before a run acts on a plan, each backup it would delete on that ground has
its tags read, one ListTagsForResource per backup (never per backup of the account): one whose
`opsworks-cm-backup:run` tag does not name the marker's run is kept, and the run is planned again
without it, until every deletion is proven. So are the backups that decided the tier of a
server's new backup, where that server keeps weeklies or monthlies (at most two per server). A
dry run does the same reads, so it says exactly what a real run would do (safety rule 6).
"""

from __future__ import annotations

from collections.abc import Sequence

from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.domain import planner
from backup_orchestrator.domain.records import Backup, Proof, PruneScope, Quota, Server


def proven_plan(
    service: OpsWorksCM,
    servers: Sequence[Server],
    backups: Sequence[Backup],
    quota: Quota,
    policy: planner.Policy,
) -> tuple[planner.Plan, list[Backup]]:
    """The plan, and the backups as it saw them (with the proofs read). Raises PlanningError as
    planner.plan does."""
    judged = {b.backup_id: b for b in backups}
    while True:
        seen = list(judged.values())
        plan = planner.plan(servers, seen, quota, policy)
        # Pruning every manual backup (opted in) needs no proof of ownership to delete.
        doomed = (
            set()
            if policy.prune_scope is PruneScope.ALL_MANUAL
            else {d.backup_id for p in plan.servers for d in [*p.delete_now, *p.deferred]}
        )
        deciding = {i for p in plan.servers if _tiers_matter(p) for i in p.tier_decided_by}
        unread = [
            judged[i] for i in sorted(doomed | deciding) if judged[i].proof is Proof.UNCHECKED
        ]
        if not unread:
            return plan, seen
        for backup in service.proven(unread):
            judged[backup.backup_id] = backup


def _tiers_matter(part: planner.ServerPlan) -> bool:
    """Whether the tier of the server's new backup changes what it keeps: it keeps weeklies or
    monthlies. Then the backups that decided that tier are proven too, so a marker typed by hand
    cannot take a month's or a week's place."""
    asked = part.tiers_asked
    return part.create and asked is not None and asked.total != asked.daily
