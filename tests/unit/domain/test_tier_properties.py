"""Properties of plans with retention tiers, over random fleets, tiers and calendars.

The oracle here is written from the rules (docs/retention-tiers.md), not from domain/tiers.py: a
backup is wanted while it is among the newest `count` backups of a tier it holds (a monthly holds
all three tiers, a weekly the weekly and daily ones); its rank is the highest such tier.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.planner import Action, Plan, Policy, plan
from backup_orchestrator.domain.records import Backup, Proof, PruneScope, Quota, Server
from backup_orchestrator.domain.retention import RETENTION_TAG
from backup_orchestrator.domain.tiers import Retention, Tier
from tests.support.planning import NOW, backup, server

SELECT = ("opsworks-cm-backup", "enabled")
ZONES = ("UTC", "Pacific/Auckland", "America/Los_Angeles", "Asia/Kolkata")
ORDER = {"daily": 0, "weekly": 1, "monthly": 2}


@dataclass(frozen=True)
class Fleet:
    servers: list[Server]
    backups: list[Backup]
    quota: Quota
    policy: Policy
    retention: dict[str, Retention]


retentions = st.builds(Retention, st.integers(1, 5), st.integers(0, 3), st.integers(0, 3))


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    profiles = draw(st.lists(retentions, min_size=1, max_size=2))
    default = draw(retentions)
    names = [f"srv-{i}" for i in range(draw(st.integers(1, 6)))]
    servers, backups, wanted = [], [], {}
    for name in names:
        profile = draw(st.one_of(st.none(), st.sampled_from(profiles)))
        tags = {SELECT[0]: SELECT[1]}
        if profile is not None:
            tags[RETENTION_TAG] = str(profile)
        wanted[name] = profile or default
        servers.append(server(name, tags=tags, created=NOW - timedelta(days=400)))
        for tenths in draw(st.lists(st.integers(1, 3500), max_size=9, unique=True)):
            origin = draw(st.sampled_from(["own", "own", "own", "own", "hand", "untagged"]))
            tier = draw(st.sampled_from(list(Tier)))
            created = NOW - timedelta(days=tenths / 10)
            made = backup(
                name,
                tenths / 10,
                own=origin != "hand",
                status=draw(st.sampled_from(["OK", "OK", "OK", "OK", "FAILED"])),
                description=marker.description(marker.scheduled_run_id(created), "nightly", tier)
                if origin != "hand"
                else None,
            )
            if origin == "untagged":
                made = replace(made, proof=Proof.UNTAGGED, proof_reason="no run tag")
            elif draw(st.booleans()):
                made = replace(made, proof=Proof.PROVEN)
            backups.append(made)
    others = draw(st.integers(0, 3))
    used = sum(b.counts_toward_limit for b in backups) + others
    slot = datetime(2026, 1, 1, 12, tzinfo=UTC) + timedelta(hours=draw(st.integers(0, 24 * 400)))
    policy = Policy(
        select_tag=SELECT,
        retention=default,
        prune_scope=PruneScope.OWN,
        run_id=marker.scheduled_run_id(slot),
        zone=ZoneInfo(draw(st.sampled_from(ZONES))),
    )
    maximum = max(1, used + draw(st.integers(-6, 8)))
    return Fleet(servers, backups, Quota(used, maximum), policy, wanted)


# ---- the oracle -------------------------------------------------------------------------------


def holds(tier: str, other: str) -> bool:
    return ORDER[tier] >= ORDER[other]


def pool(name: str, fleet: Fleet) -> list[Backup]:
    """What the server may lose: its own OK or FAILED manual backups whose run tag was not found
    to contradict the marker, newest first."""
    return sorted(
        (
            b
            for b in fleet.backups
            if b.server_name == name
            and b.status in ("OK", "FAILED")
            and b.is_own
            and b.proof not in (Proof.UNTAGGED, Proof.CONTRADICTED, Proof.UNREAD)
        ),
        key=lambda b: (b.created_at, b.backup_id),
        reverse=True,
    )


def ranks(new_tier: str, good: list[Backup], retention: Retention) -> dict[str, int]:
    """Backup id -> rank (0 daily, 1 weekly, 2 monthly) of each wanted backup; 'new' is the new
    one."""
    listed = [("new", new_tier)] + [(b.backup_id, str(b.tier)) for b in good]
    counts = {"daily": retention.daily, "weekly": retention.weekly, "monthly": retention.monthly}
    rank: dict[str, int] = {}
    for tier in ("daily", "weekly", "monthly"):
        holding = [bid for bid, own in listed if holds(own, tier)]
        for bid in holding[: counts[tier]]:
            rank[bid] = ORDER[tier]
    return rank


def expected_tier(name: str, fleet: Fleet) -> str:
    """The first backup of a local month is monthly, else the first of an ISO week weekly: any
    backup of the product's (OK or in progress, not refuted by its tag) holds its month and week."""
    slot = marker.slot_of(fleet.policy.run_id or "")
    assert slot is not None
    zone = fleet.policy.zone
    local = slot.astimezone(zone)
    held = []
    for b in fleet.backups:
        made = marker.slot_of(b.run_id or "")
        refuted = b.proof in (Proof.UNTAGGED, Proof.CONTRADICTED, Proof.UNREAD)
        if b.server_name == name and made and b.status in ("OK", "IN_PROGRESS") and not refuted:
            held.append(made.astimezone(zone))
    if not any((d.year, d.month) == (local.year, local.month) for d in held):
        return "monthly"
    if not any(d.isocalendar()[:2] == local.isocalendar()[:2] for d in held):
        return "weekly"
    return "daily"


def deletions(result: Plan) -> set[str]:
    return {d.backup_id for p in result.servers for d in [*p.delete_now, *p.deferred]}


# ---- properties -------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_tiered_plans_keep_the_rules_and_the_limit(fleet: Fleet) -> None:
    result = plan(fleet.servers, fleet.backups, fleet.quota, fleet.policy)
    by_id = {b.backup_id: b for b in fleet.backups}
    creators = [p.server_name for p in result.creating]
    immediate = [d for p in result.servers for d in p.delete_now]

    for p in result.servers:
        if p.action is Action.CREATE:
            assert str(p.tier) == expected_tier(p.server_name, fleet)
    # Safety: only the server's own, proven-or-unread-yet, finished backups; never the newest good
    # one now (rules 1-4, 11).
    for bid in deletions(result):
        target = by_id[bid]
        assert target in pool(target.server_name, fleet)
    for deletion in immediate:
        good = [b for b in fleet.backups if b.server_name == deletion.server_name]
        newest = max(
            (b for b in good if b.is_manual and b.status == "OK"),
            key=lambda b: (b.created_at, b.backup_id),
            default=None,
        )
        assert newest is None or deletion.backup_id != newest.backup_id
    # The limit: the new backups fit now with the fewest deletions, and the settled state fits.
    if creators:
        assert len(immediate) == max(0, fleet.quota.used + len(creators) - fleet.quota.maximum)
        assert result.used_when_settled <= fleet.quota.maximum
    else:
        assert immediate == []


@settings(max_examples=300, deadline=None)
@given(fleets())
def test_every_kept_backup_is_justified_and_trimming_starts_at_the_lowest(fleet: Fleet) -> None:
    result = plan(fleet.servers, fleet.backups, fleet.quota, fleet.policy)
    gone = deletions(result)
    kept_counts: dict[str, tuple[Retention, int, bool]] = {}
    for p in result.servers:
        if p.action is not Action.CREATE:
            continue
        retention = fleet.retention[p.server_name]
        good = [b for b in pool(p.server_name, fleet) if b.status == "OK"]
        rank = ranks(expected_tier(p.server_name, fleet), good, retention)
        kept = [b for b in good if b.backup_id not in gone]
        trimmed = [b for b in good if b.backup_id in gone and b.backup_id in rank]
        # Every backup kept is wanted by a tier.
        assert all(b.backup_id in rank for b in kept)
        # A trimmed backup never outranks a kept one: highest tier first, then the newest. (The
        # newest good backup stays until the new one is OK (rule 4), whatever its rank, when
        # room had to be made now.)
        newest = max(good, key=lambda b: (b.created_at, b.backup_id), default=None)
        for lost in trimmed:
            for stays in kept:
                if p.delete_now and stays is newest:
                    continue
                assert (rank[lost.backup_id], lost.created_at) < (
                    rank[stays.backup_id],
                    stays.created_at,
                )
        # Every failed backup of the pool goes.
        assert all(b.backup_id in gone for b in pool(p.server_name, fleet) if b.status == "FAILED")
        kept_counts[p.server_name] = (retention, 1 + len(kept), bool(trimmed))
    # Servers with the same tiers: one trimmed keeps at least as many, less one, as any other.
    for retention, count, was_trimmed in kept_counts.values():
        if not was_trimmed:
            continue
        for other, other_count, _ in kept_counts.values():
            if other == retention:
                assert other_count <= count + 1


@settings(max_examples=100, deadline=None)
@given(fleets(), st.randoms(use_true_random=False))
def test_tiered_plans_are_deterministic(fleet: Fleet, rng: random.Random) -> None:
    servers, backups = list(fleet.servers), list(fleet.backups)
    rng.shuffle(servers)
    rng.shuffle(backups)

    assert plan(servers, backups, fleet.quota, fleet.policy) == plan(
        fleet.servers, fleet.backups, fleet.quota, fleet.policy
    )
