"""A plan whose every deletion is proven, against the emulator: the tags of the backups a plan
would delete are read (one ListTagsForResource each, never one per backup of the account), and a
backup whose run tag does not name its marker's run is kept and the run planned again."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy
from backup_orchestrator.domain import marker, ownership, planner
from backup_orchestrator.domain.records import Proof, PruneScope
from backup_orchestrator.domain.tiers import Retention, Tier
from backup_orchestrator.run.proof import proven_plan
from local.emulator import Emulator
from local.emulator.errors import AccessDeniedException, ServiceError
from local.fleet import add_own_backup
from tests.support.fleet import tag

QUICK = RetryPolicy(attempts=2, base_seconds=0.001, cap_seconds=0.001)


@pytest.fixture
def service(opsworkscm: Any) -> OpsWorksCM:
    return OpsWorksCM(opsworkscm, QUICK)


def policy(retain: int, scope: PruneScope = PruneScope.OWN) -> planner.Policy:
    return planner.Policy(
        select_tag=("opsworks-cm-backup", "enabled"),
        retention=Retention(retain),
        prune_scope=scope,
        run_id="scheduled-20260105T120000Z",
    )


def own(emulator: Emulator, days: float, **options: Any) -> str:
    created = emulator.backend.clock.now() - timedelta(days=days)
    return add_own_backup(emulator.backend, "chef-a", created, **options).backup_id


def typed_in(emulator: Emulator, days: float) -> str:
    """A backup made by hand whose Description was typed to look like the product's."""
    created = emulator.backend.clock.now() - timedelta(days=days)
    text = marker.description(marker.scheduled_run_id(created), "nightly", Tier.DAILY)
    return emulator.backend.add_backup("chef-a", created, description=text).backup_id


def plan_of(service: OpsWorksCM, retain: int, scope: PruneScope = PruneScope.OWN) -> Any:
    servers = service.with_tags(service.servers())
    return proven_plan(
        service, servers, service.backups(), service.manual_backup_quota(), policy(retain, scope)
    )


def doomed(plan: planner.Plan) -> set[str]:
    return {d.backup_id for p in plan.servers for d in [*p.delete_now, *p.deferred]}


def tag_reads(emulator: Emulator) -> list[str]:
    return [
        c.params["ResourceArn"].rsplit("/", 1)[1]
        for c in emulator.calls_to("ListTagsForResource")
        if "/backup/" in c.params["ResourceArn"] or ":backup/" in c.params["ResourceArn"]
    ]


@pytest.fixture
def chef_a(emulator: Emulator) -> Emulator:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    return emulator


def test_only_backups_proven_the_products_are_deleted(
    chef_a: Emulator, service: OpsWorksCM
) -> None:
    # Given four tagged backups of the product, one typed-in marker and one made before tags
    kept = [own(chef_a, d) for d in (1, 2)]
    tagged_old = [own(chef_a, d) for d in (3, 4)]
    forged = typed_in(chef_a, 5)
    legacy = own(chef_a, 6, tagged=False)

    plan, seen = plan_of(service, retain=3)

    # Then only the tagged ones beyond retention go; the other two are kept, saying why
    assert doomed(plan) == set(tagged_old)
    [server] = plan.servers
    assert {k.backup_id: k.awaiting_adoption for k in server.not_proven} == {
        forged: False,
        legacy: True,
    }
    assert all("never deleted" in k.reason for k in server.not_proven)
    assert set(kept).isdisjoint(doomed(plan))
    # And the tags read were those of deletion candidates only, each once
    reads = tag_reads(chef_a)
    assert sorted(reads) == sorted({*tagged_old, forged, legacy})
    assert {b.backup_id: b.proof for b in seen if b.proof is not Proof.UNCHECKED} == {
        **dict.fromkeys(tagged_old, Proof.PROVEN),
        forged: Proof.UNTAGGED,
        legacy: Proof.UNTAGGED,
    }


def test_a_run_tag_naming_another_run_is_refused(chef_a: Emulator, service: OpsWorksCM) -> None:
    own(chef_a, 1)
    other = own(chef_a, 2)
    chef_a.backend.backups[other].tags[ownership.RUN_TAG] = "manual-somebodyelse"

    plan, _ = plan_of(service, retain=2)

    assert doomed(plan) == set()
    [kept] = plan.servers[0].not_proven
    assert kept.backup_id == other and "names 'manual-somebodyelse'" in kept.reason


def test_a_backup_whose_tags_cannot_be_read_is_kept_this_run(
    chef_a: Emulator, service: OpsWorksCM
) -> None:
    own(chef_a, 1)
    unreadable = own(chef_a, 2)
    arn = chef_a.backend.backups[unreadable].arn

    def denied(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "ListTagsForResource" and params["ResourceArn"] == arn:
            return AccessDeniedException("not allowed")
        return None

    chef_a.faults.append(denied)

    plan, _ = plan_of(service, retain=2)

    assert doomed(plan) == set()
    [kept] = plan.servers[0].not_proven
    assert "could not be read" in kept.reason and "AccessDeniedException" in kept.reason


def test_pruning_every_manual_backup_reads_no_tags(chef_a: Emulator, service: OpsWorksCM) -> None:
    own(chef_a, 1)
    forged = typed_in(chef_a, 2)

    plan, _ = plan_of(service, retain=1, scope=PruneScope.ALL_MANUAL)

    assert forged in doomed(plan)
    assert tag_reads(chef_a) == []
    assert plan.servers[0].not_proven == []


def tiered_policy(retention: Retention) -> planner.Policy:
    # 5 January 2026, a Monday: the month is held by the backups of 1-4 January.
    return dataclasses.replace(policy(1), retention=retention)


@pytest.mark.parametrize(
    ("retention", "tier", "reads"), [(Retention(3, 1, 1), Tier.MONTHLY, 1), (Retention(3), None, 0)]
)
def test_a_typed_in_marker_cannot_take_a_months_place_where_tiers_matter(
    chef_a: Emulator,
    service: OpsWorksCM,
    retention: Retention,
    tier: Tier | None,
    reads: int,
) -> None:
    # Given only a hand-made backup of 4 January whose Description was typed to look like the
    # product's monthly of that slot (no run tag)
    forged = typed_in(chef_a, 1)
    servers = service.with_tags(service.servers())

    plan, _ = proven_plan(
        service, servers, service.backups(), service.manual_backup_quota(), tiered_policy(retention)
    )

    # Then, where the server keeps monthlies, its tags are read and it holds no month: the new
    # backup is the month's monthly; with the daily tier alone nothing is read for it
    [part] = plan.servers
    assert tag_reads(chef_a) == [forged] * reads
    if tier is not None:
        assert part.tier is tier
