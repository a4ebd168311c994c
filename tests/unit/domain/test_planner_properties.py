"""The planner's safety rules (docs/safety-rules.md) as properties over generated fleets, with
an oracle.

The oracle is written from the rules, not from the planner: which servers could be backed up,
what each may lose right now, and, by exhaustive search over every subset of them, the most
servers whose new backups fit. The planner must start exactly that many, never break a rule,
and, slot after slot, never keep out a server it left out the slot before while it starts
again one it could have swapped for it.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from backup_orchestrator.domain.planner import Action, Plan, Policy, plan
from backup_orchestrator.domain.records import (
    BACKUP_ALLOWED_STATES,
    BUSY_STATES,
    GONE,
    RETAIN_TAG,
    SERVER_STATES,
    Backup,
    PruneScope,
    Quota,
    Server,
)
from backup_orchestrator.domain.tiers import Retention
from tests.support.planning import NOW, backup, server

SELECT = ("opsworks-cm-backup", "enabled")
RUN = "scheduled-20260105T120000Z"
NEXT_RUN = "scheduled-20260106T120000Z"
ENGINES = ("ChefAutomate", "Puppet")
RETAIN_VALUES = ("1", "2", "3", "5", "07", "49", "50", "0", "x", "٣", " 2", "")
DESCRIPTIONS = ("own", "own", "own", "hand", "lookalike", "this-run")
LOOKALIKE = "[opsworks-cm-backup-exempt] golden image"


@dataclass(frozen=True)
class Fleet:
    servers: list[Server]
    backups: list[Backup]
    quota: Quota
    policy: Policy
    # Manual backups of servers outside this fleet: they hold slots nobody here may free.
    others: int


@st.composite
def fleets(draw: st.DrawFn, *, healthy: bool = False) -> Fleet:
    names = draw(
        st.lists(
            st.sampled_from([f"srv-{i}" for i in range(6)]), min_size=1, max_size=6, unique=True
        )
    )
    servers: list[Server] = []
    backups: list[Backup] = []
    for name in names:
        engine = draw(st.sampled_from(ENGINES))
        tags: dict[str, str] = {}
        if healthy or draw(st.integers(0, 3)):
            tags[SELECT[0]] = (
                "enabled"
                if healthy
                else draw(st.sampled_from(["enabled", "enabled", "enabled", "Enabled", "no"]))
            )
        if not healthy and draw(st.integers(0, 3)) == 0:
            tags[RETAIN_TAG] = draw(st.sampled_from(RETAIN_VALUES))
        status = (
            "HEALTHY"
            if healthy
            else draw(
                st.one_of(
                    st.sampled_from(sorted(BACKUP_ALLOWED_STATES)),
                    st.sampled_from([*SERVER_STATES, GONE]),
                )
            )
        )
        unreadable = not healthy and draw(st.integers(0, 9)) == 0
        servers.append(
            server(
                name,
                status,
                tags=tags,
                engine=engine,
                created=NOW - timedelta(days=draw(st.integers(1, 300))),
                tags_error="AccessDeniedException: not allowed" if unreadable else None,
            )
        )
        for tenths in draw(st.lists(st.integers(1, 4000), max_size=6, unique=True)):
            kind = draw(st.sampled_from(["MANUAL", "MANUAL", "MANUAL", "AUTOMATED"]))
            origin = draw(st.sampled_from(DESCRIPTIONS))
            backups.append(
                backup(
                    name,
                    tenths / 10,
                    own=origin != "hand",
                    status=draw(
                        st.sampled_from(["OK", "OK", "OK", "FAILED", "IN_PROGRESS", "DELETING"])
                    ),
                    kind=kind,
                    engine=engine if draw(st.integers(0, 5)) else ENGINES[engine == ENGINES[0]],
                    description=LOOKALIKE if origin == "lookalike" else None,
                    run_id=RUN if origin == "this-run" else None,
                )
            )
    others = draw(st.integers(0, 3))
    used = sum(b.counts_toward_limit for b in backups) + others
    named = draw(st.one_of(st.none(), st.lists(st.sampled_from(names), min_size=1, unique=True)))
    chosen_policy = Policy(
        select_tag=SELECT,
        retention=Retention.of_retain(draw(st.integers(1, 10))),
        prune_scope=draw(st.sampled_from(list(PruneScope))),
        servers=None if healthy or not named else tuple(named),
        retention_override=None
        if healthy
        else draw(st.one_of(st.none(), st.integers(1, 10).map(Retention.of_retain))),
        run_id=draw(st.sampled_from([RUN, None])),
        retry_busy=draw(st.booleans()),
    )
    maximum = max(1, used + draw(st.integers(-4, 6)))
    return Fleet(servers, backups, Quota(used, maximum), chosen_policy, others)


# ---- the oracle: the rules, spelled out -------------------------------------------------------


def newest(backups: Sequence[Backup]) -> Backup | None:
    return max(backups, key=lambda b: (b.created_at, b.backup_id), default=None)


def lifetime(s: Server, backups: Sequence[Backup]) -> list[Backup]:
    """Rule 11: the backups made while this very server existed."""
    return [
        b
        for b in backups
        if b.server_name == s.name
        and s.created_at is not None
        and b.created_at >= s.created_at
        and b.engine == s.engine
    ]


def selected(fleet: Fleet) -> list[Server]:
    p = fleet.policy
    if p.servers is not None:
        return [s for s in fleet.servers if s.name in p.servers]
    return [
        s for s in fleet.servers if s.tags_error or s.tags.get(p.select_tag[0]) == p.select_tag[1]
    ]


def adopted(s: Server, fleet: Fleet) -> Backup | None:
    run = fleet.policy.run_id
    mine = lifetime(s, fleet.backups)
    return newest([b for b in mine if run and b.run_id == run and b.status != "DELETING"])


def retain_known(s: Server, p: Policy) -> bool:
    if p.retention_override is not None:
        return True
    value = s.tags.get(RETAIN_TAG)
    return value is None or bool(re.fullmatch(r"[0-9]+", value, re.ASCII) and 1 <= int(value) <= 49)


def own_running(s: Server, fleet: Fleet) -> bool:
    return any(b.is_own and b.status == "IN_PROGRESS" for b in lifetime(s, fleet.backups))


def candidates(fleet: Fleet) -> list[str]:
    """Servers that should get a new backup this run, room permitting."""
    return [
        s.name
        for s in selected(fleet)
        if adopted(s, fleet) is None
        and s.tags_error is None
        and retain_known(s, fleet.policy)
        and not own_running(s, fleet)
        and s.status in BACKUP_ALLOWED_STATES
    ]


def adopters(fleet: Fleet) -> list[str]:
    return [
        s.name
        for s in selected(fleet)
        if adopted(s, fleet) and s.tags_error is None and retain_known(s, fleet.policy)
    ]


def may_lose(s: Server, fleet: Fleet) -> list[Backup]:
    """What a server may lose ever (rules 1-3, 11), its adopted backup aside."""
    keep = adopted(s, fleet)
    return [
        b
        for b in lifetime(s, fleet.backups)
        if b.backup_type == "MANUAL"
        and b.status in ("OK", "FAILED")
        and (fleet.policy.prune_scope is PruneScope.ALL_MANUAL or b.is_own)
        and b != keep
    ]


def newest_good(s: Server, fleet: Fleet) -> Backup | None:
    keep = adopted(s, fleet)
    mine = lifetime(s, fleet.backups)
    return newest([b for b in mine if b.is_manual and b.status == "OK" and b != keep])


def may_lose_now(s: Server, fleet: Fleet) -> list[Backup]:
    """Rule 4 on top: never the newest good backup before a newer one is OK."""
    return [b for b in may_lose(s, fleet) if b != newest_good(s, fleet)]


def feasible(starting: Sequence[str], fleet: Fleet) -> bool:
    """Whether these servers' new backups fit now, deleting only what the rules allow of the
    servers in the run."""
    need = fleet.quota.used + len(starting) - fleet.quota.maximum
    if not starting or need <= 0:
        return True
    by_name = {s.name: s for s in fleet.servers}
    losable = {
        b.backup_id for n in [*starting, *adopters(fleet)] for b in may_lose_now(by_name[n], fleet)
    }
    return len(losable) >= need


def most_that_fit(fleet: Fleet) -> int:
    names = candidates(fleet)
    return max(
        size
        for size in range(len(names) + 1)
        for subset in itertools.combinations(names, size)
        if feasible(subset, fleet)
    )


# ---- properties -------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(fleets())
def test_plan_never_breaks_the_rules(fleet: Fleet) -> None:
    result = plan(fleet.servers, fleet.backups, fleet.quota, fleet.policy)
    quota = fleet.quota
    by_id = {b.backup_id: b for b in fleet.backups}
    by_name = {s.name: s for s in fleet.servers}
    parts = {p.server_name: p for p in result.servers}
    creators = [p.server_name for p in result.creating]
    following = {p.server_name for p in result.servers if p.action is Action.ADOPT}
    immediate = [d for p in result.servers for d in p.delete_now]
    everything = immediate + [d for p in result.servers for d in p.deferred]

    # Every selected server has exactly one part, with a reason (rules 9 and 12).
    assert [p.server_name for p in result.servers] == sorted(s.name for s in selected(fleet))
    assert all(p.reason for p in result.servers)
    # Liveness: as many backups start as the limit allows, and the ones that start fit.
    assert set(creators) <= set(candidates(fleet))
    assert len(creators) == most_that_fit(fleet)
    assert feasible(creators, fleet)
    for name in set(candidates(fleet)) - set(creators):
        assert parts[name].action is Action.FAIL and "no room" in parts[name].reason
    # A backup started by an earlier attempt of this run is followed, never made again (rule 5).
    for name in {s.name for s in selected(fleet) if adopted(s, fleet)}:
        started = adopted(by_name[name], fleet)
        assert started is not None
        assert (parts[name].action, parts[name].backup_id) == (Action.ADOPT, started.backup_id)
    # Nothing is quietly skipped: NOTHING only for a server that is gone or already being
    # backed up by this product, RETRY only for a busy one when the slot can try it later
    # (rule 12).
    for p in result.servers:
        s = by_name[p.server_name]
        if p.action is Action.NOTHING:
            assert s.status == GONE or own_running(s, fleet)
        if p.action is Action.RETRY:
            assert fleet.policy.retry_busy and s.status in BUSY_STATES
        if p.action is Action.FAIL and f"the server is {s.status}" in p.reason:
            assert not (fleet.policy.retry_busy and s.status in BUSY_STATES)
    # Deletions: never twice, never anything the rules protect (rules 1-4, 11).
    assert len({d.backup_id for d in everything}) == len(everything)
    for deletion in everything:
        target = by_id[deletion.backup_id]
        owner = by_name[deletion.server_name]
        assert deletion.server_name in {*creators, *following}
        assert target in may_lose(owner, fleet)
    for deletion in immediate:
        assert by_id[deletion.backup_id] in may_lose_now(by_name[deletion.server_name], fleet)
    # The limit: the new backups fit now with the fewest deletions, and the settled state fits.
    if creators:
        assert len(immediate) == max(0, quota.used + len(creators) - quota.maximum)
        assert result.used_when_settled <= quota.maximum
    else:
        assert immediate == []
    assert result.used_after_run == quota.used - len(immediate) + len(creators)
    # Fair shares: nobody keeps more than asked; a server held below its ask keeps what it was
    # granted, and nobody keeps more than one above the least-served of those.
    deleted = {d.backup_id for d in everything}
    shares: dict[str, tuple[int, int, int]] = {}
    for name in [*creators, *following]:
        p = parts[name]
        if p.retain_granted is None:
            continue
        assert p.retain_asked is not None
        kept = 1 + sum(
            b.status == "OK" and b.backup_id not in deleted for b in may_lose(by_name[name], fleet)
        )
        shares[name] = (kept, p.retain_granted, p.retain_asked)
    constrained = [granted for _, granted, asked in shares.values() if granted < asked]
    for kept, granted, asked in shares.values():
        assert 1 <= kept <= granted <= asked
        if granted < asked:
            assert kept == granted
        if constrained:
            assert kept <= min(constrained) + 1


def next_slot(fleet: Fleet, result: Plan, ok: dict[str, bool]) -> Fleet:
    """The account a day later: each started backup ended OK or FAILED (`ok`), the deletions
    now were made, and the deferred ones applied where the new backup is OK."""
    gone = {d.backup_id for p in result.servers for d in p.delete_now}
    for p in result.servers:
        if p.create and ok[p.server_name]:
            gone |= {d.backup_id for d in p.deferred}
    engines = {s.name: s.engine for s in fleet.servers}
    made = [
        backup(
            p.server_name,
            -0.5,
            status="OK" if ok[p.server_name] else "FAILED",
            engine=engines[p.server_name],
            run_id=RUN,
        )
        for p in result.creating
    ]
    kept = [b for b in fleet.backups if b.backup_id not in gone] + made
    used = sum(b.counts_toward_limit for b in kept) + fleet.others
    return replace(
        fleet,
        backups=kept,
        quota=Quota(used, fleet.quota.maximum),
        policy=replace(fleet.policy, run_id=NEXT_RUN),
    )


@settings(max_examples=200, deadline=None)
@given(fleets(healthy=True), st.data())
def test_a_server_left_out_for_room_goes_first_next_slot(fleet: Fleet, data: st.DataObject) -> None:
    fleet = replace(fleet, policy=replace(fleet.policy, run_id=RUN))
    first = plan(fleet.servers, fleet.backups, fleet.quota, fleet.policy)
    ok = {p.server_name: data.draw(st.booleans()) for p in first.creating}
    later = next_slot(fleet, first, ok)
    second = plan(later.servers, later.backups, later.quota, later.policy)

    left_out = [
        set(candidates(f)) - {p.server_name for p in r.creating}
        for f, r in ((fleet, first), (later, second))
    ]
    started = [{p.server_name for p in r.creating} for r in (first, second)]
    for starved in left_out[0] & left_out[1]:
        for again in started[0] & started[1]:
            swapped = (started[1] - {again}) | {starved}
            assert not feasible(sorted(swapped), later), (
                f"{starved} was left out two slots running while {again}, started both times, "
                "could have given it its place"
            )


@settings(max_examples=100, deadline=None)
@given(fleets())
def test_plan_is_deterministic(fleet: Fleet) -> None:
    assert plan(fleet.servers, fleet.backups, fleet.quota, fleet.policy) == plan(
        list(reversed(fleet.servers)), fleet.backups[::-1], fleet.quota, fleet.policy
    )
