"""The pure planner: examples for each decision, and properties for every rule of DESIGN s.4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup_orchestrator.models import (
    BACKUP_ALLOWED_STATES,
    OWN_MARKER,
    RETAIN_TAG,
    SERVER_STATES,
    Backup,
    PruneScope,
    Quota,
    Server,
)
from backup_orchestrator.planner import Plan, PlanningError, Policy, plan

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
SELECTED = {"opsworks-cm-backup": "enabled"}
STATES = sorted(SERVER_STATES)


def policy(**overrides: object) -> Policy:
    values: dict[str, object] = {"select_tag": ("opsworks-cm-backup", "enabled"), "retain": 7}
    values.update(overrides)
    return Policy(**values)  # type: ignore[arg-type]


def backup(
    server: str, days_ago: float, *, own: bool = True, status: str = "OK", kind: str = "MANUAL"
) -> Backup:
    created = NOW - timedelta(days=days_ago)
    return Backup(
        backup_id=f"{server}-{created:%Y%m%d%H%M%S}{created.microsecond // 1000:03d}",
        server_name=server,
        backup_type=kind,
        status=status,
        created_at=created,
        description=f"{OWN_MARKER} run=x] nightly" if own else "taken by hand",
    )


def quota_for(backups: list[Backup], maximum: int = 50) -> Quota:
    return Quota(used=sum(b.counts_toward_limit for b in backups), maximum=maximum)


def by_name(result: Plan) -> dict[str, object]:
    return {p.server_name: p for p in result.servers}


# ---- examples -----------------------------------------------------------------------------


def test_selects_tagged_servers_and_skips_busy_ones() -> None:
    servers = [
        Server("chef-a", "HEALTHY", tags=SELECTED),
        Server("chef-b", "UNDER_MAINTENANCE", tags=SELECTED),
        Server("chef-c", "HEALTHY"),
    ]

    result = plan(servers, [], Quota(0, 50), policy())

    assert [p.server_name for p in result.servers] == ["chef-a", "chef-b"]
    assert [p.server_name for p in result.creating] == ["chef-a"]
    assert "UNDER_MAINTENANCE" in result.servers[1].reason


def test_named_servers_are_selected_without_the_tag() -> None:
    servers = [Server("chef-a", "HEALTHY"), Server("chef-b", "HEALTHY", tags=SELECTED)]

    result = plan(servers, [], Quota(0, 50), policy(servers=("chef-a",)))

    assert [p.server_name for p in result.creating] == ["chef-a"]


def test_unknown_named_server_rejects_the_plan() -> None:
    with pytest.raises(PlanningError, match=r"'servers'.*'ghost'"):
        plan([Server("chef-a", "HEALTHY")], [], Quota(0, 50), policy(servers=("chef-a", "ghost")))


def test_retention_is_deferred_until_the_new_backup_is_ok() -> None:
    backups = [backup("chef-a", d) for d in (1, 2, 3, 4)]

    result = plan(
        [Server("chef-a", "HEALTHY", tags=SELECTED)], backups, quota_for(backups), policy(retain=2)
    )

    only = result.servers[0]
    assert only.delete_now == []
    assert [d.backup_id for d in only.deferred] == [b.backup_id for b in backups[1:]]
    assert result.used_when_settled == 2


def test_retain_tag_overrides_default_and_run_override_wins() -> None:
    backups = [backup("chef-a", d) for d in (1, 2, 3)]
    server = Server("chef-a", "HEALTHY", tags={**SELECTED, RETAIN_TAG: "3"})

    from_tag = plan([server], backups, quota_for(backups), policy(retain=1)).servers[0]
    from_run = plan(
        [server], backups, quota_for(backups), policy(retain=1, retain_override=2)
    ).servers[0]

    assert (from_tag.retain_granted, len(from_tag.deferred)) == (3, 1)
    assert (from_run.retain_granted, len(from_run.deferred)) == (2, 2)


@pytest.mark.parametrize("value", ["0", "50", "seven", "-1", ""])
def test_invalid_retain_tag_skips_that_server_with_reason(value: str) -> None:
    server = Server("chef-a", "HEALTHY", tags={**SELECTED, RETAIN_TAG: value})

    result = plan([server], [], Quota(0, 50), policy())

    assert result.creating == []
    assert RETAIN_TAG in result.servers[0].reason


def test_limit_shared_fairly_when_retention_cannot_fit() -> None:
    servers = [Server(f"chef-{i}", "HEALTHY", tags=SELECTED) for i in range(10)]
    backups = [backup(s.name, d) for s in servers for d in range(1, 6)]

    result = plan(servers, backups, quota_for(backups), policy(retain=10))

    assert {p.retain_granted for p in result.servers} == {5}
    assert all("instead of 10" in p.reason for p in result.servers)
    assert result.used_when_settled == 50
    # The account is full: ten backups must go now to fit ten new ones, never a newest one.
    assert len(result.delete_now) == 10
    newest = {s.name: backup(s.name, 1).backup_id for s in servers}
    assert not {d.backup_id for d in result.delete_now} & set(newest.values())


def test_failed_backups_make_room_first() -> None:
    backups = [backup("chef-a", 1), backup("chef-a", 2), backup("chef-a", 3, status="FAILED")]

    result = plan(
        [Server("chef-a", "HEALTHY", tags=SELECTED)],
        backups,
        quota_for(backups, 3),
        policy(retain=3),
    )

    assert [d.backup_id for d in result.delete_now] == [backups[2].backup_id]


def test_full_of_backups_it_may_not_delete_skips_with_reason() -> None:
    backups = [backup("chef-a", d, own=False) for d in range(1, 4)]

    result = plan(
        [Server("chef-a", "HEALTHY", tags=SELECTED)], backups, quota_for(backups, 3), policy()
    )

    assert result.creating == []
    assert "did not create" in result.servers[0].reason
    assert result.delete_now == []


def test_all_manual_scope_prunes_other_manual_backups_but_not_automated() -> None:
    backups = [
        backup("chef-a", 1, own=False),
        backup("chef-a", 2, own=False),
        backup("chef-a", 3, kind="AUTOMATED"),
    ]

    result = plan(
        [Server("chef-a", "HEALTHY", tags=SELECTED)],
        backups,
        quota_for(backups),
        policy(retain=1, prune_scope=PruneScope.ALL_MANUAL),
    )

    assert {d.backup_id for d in result.servers[0].deferred} == {b.backup_id for b in backups[:2]}


def test_newest_good_backup_only_goes_after_the_new_one_is_ok() -> None:
    backups = [backup("chef-a", 1)]

    result = plan(
        [Server("chef-a", "HEALTHY", tags=SELECTED)],
        backups,
        quota_for(backups, 1),
        policy(retain=1),
    )

    # Limit 1 with one good backup: nothing may be deleted first, so there is no room.
    assert result.creating == []
    assert "no room" in result.servers[0].reason


def test_servers_most_in_need_get_the_last_slots() -> None:
    servers = [Server(n, "HEALTHY", tags=SELECTED) for n in ("chef-a", "chef-b")]
    backups = [backup("chef-a", 1, own=False), backup("chef-b", 9, own=False)]

    result = plan(servers, backups, quota_for(backups, 3), policy())

    assert [p.server_name for p in result.creating] == ["chef-b"]


# ---- properties ---------------------------------------------------------------------------


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[Server], list[Backup], Quota, Policy]:
    names = draw(
        st.lists(
            st.sampled_from([f"srv-{i}" for i in range(8)]), min_size=1, max_size=8, unique=True
        )
    )
    servers = []
    for name in names:
        tags: dict[str, str] = {}
        if draw(st.booleans()):
            tags.update(SELECTED)
        if draw(st.integers(0, 4)) == 0:
            tags[RETAIN_TAG] = draw(st.sampled_from(["1", "2", "5", "0", "x"]))
        status = draw(
            st.one_of(st.sampled_from(sorted(BACKUP_ALLOWED_STATES)), st.sampled_from(STATES))
        )
        servers.append(Server(name, status, tags=tags))
    backups: list[Backup] = []
    for name in names:
        ages = draw(st.lists(st.integers(1, 2000), max_size=8, unique=True))
        for age in ages:
            backups.append(
                backup(
                    name,
                    age / 10,
                    own=draw(st.booleans()),
                    status=draw(
                        st.sampled_from(["OK", "OK", "OK", "FAILED", "IN_PROGRESS", "DELETING"])
                    ),
                    kind=draw(st.sampled_from(["MANUAL", "MANUAL", "AUTOMATED"])),
                )
            )
    used = sum(b.counts_toward_limit for b in backups) + draw(st.integers(0, 3))
    maximum = max(1, used + draw(st.integers(-4, 8)))
    named = draw(st.one_of(st.none(), st.lists(st.sampled_from(names), min_size=1, unique=True)))
    chosen_policy = Policy(
        select_tag=("opsworks-cm-backup", "enabled"),
        retain=draw(st.integers(1, 10)),
        prune_scope=draw(st.sampled_from(list(PruneScope))),
        servers=tuple(named) if named else None,
        retain_override=draw(st.one_of(st.none(), st.integers(1, 10))),
    )
    return servers, backups, Quota(used, maximum), chosen_policy


@settings(max_examples=400, deadline=None)
@given(fleets())
def test_plan_never_breaks_the_rules(
    fleet: tuple[list[Server], list[Backup], Quota, Policy],
) -> None:
    servers, backups, quota, chosen = fleet
    result = plan(servers, backups, quota, chosen)
    by_id = {b.backup_id: b for b in backups}
    creators = {p.server_name for p in result.creating}
    status = {s.name: s.status for s in servers}
    immediate = [d for p in result.servers for d in p.delete_now]
    deferred = [(p.server_name, d) for p in result.servers for d in p.deferred]
    everything = immediate + [d for _, d in deferred]

    # Each selected server appears once; only allowed states create (rule 5: one per server).
    names = [p.server_name for p in result.servers]
    assert len(names) == len(set(names))
    if chosen.servers is not None:
        assert set(names) == set(chosen.servers)
    assert all(status[name] in BACKUP_ALLOWED_STATES for name in creators)
    # No backup is deleted twice.
    assert len({d.backup_id for d in everything}) == len(everything)
    for deletion in everything:
        target = by_id[deletion.backup_id]
        assert target.backup_type == "MANUAL"  # rule 1
        assert target.status in ("OK", "FAILED")  # rule 2 (and nothing already DELETING)
        if chosen.prune_scope is PruneScope.OWN:
            assert target.is_own  # rule 3
        assert target.server_name in creators  # servers that do not back up are not touched
    # Rule 4: deferred deletions wait for that server's own new backup; the newest good backup
    # of a server is never deleted before it.
    assert all(by_id[d.backup_id].server_name == owner for owner, d in deferred)
    for deletion in immediate:
        target = by_id[deletion.backup_id]
        newest_ok = max(
            (
                b
                for b in backups
                if b.server_name == target.server_name and b.is_manual and b.status == "OK"
            ),
            key=lambda b: (b.created_at, b.backup_id),
            default=None,
        )
        assert newest_ok is None or deletion.backup_id != newest_ok.backup_id
    # The limit: new backups fit now, and the settled state fits too.
    if creators:
        assert quota.used - len(immediate) + len(creators) <= quota.maximum
        assert result.used_when_settled <= quota.maximum
        assert len(immediate) == max(0, quota.used + len(creators) - quota.maximum)
    # Fair shares: nobody keeps more than asked; a server that got less than it asked keeps
    # what it was granted, and nobody keeps more than one above the least-served of those.
    deleted = {d.backup_id for d in everything}
    kept = {
        p.server_name: 1
        + sum(
            1
            for b in backups
            if b.server_name == p.server_name
            and b.is_manual
            and b.status == "OK"
            and (b.is_own or chosen.prune_scope is PruneScope.ALL_MANUAL)
            and b.backup_id not in deleted
        )
        for p in result.creating
    }
    shares: dict[str, tuple[int, int]] = {}
    for p in result.creating:
        assert p.retain_granted is not None
        assert p.retain_asked is not None
        shares[p.server_name] = (p.retain_granted, p.retain_asked)
    constrained = [granted for granted, asked in shares.values() if granted < asked]
    for name, (granted, asked) in shares.items():
        assert 1 <= kept[name] <= granted <= asked
        if granted < asked:
            assert kept[name] == granted
        if constrained:
            assert kept[name] <= min(constrained) + 1


@settings(max_examples=100, deadline=None)
@given(fleets())
def test_plan_is_deterministic(fleet: tuple[list[Server], list[Backup], Quota, Policy]) -> None:
    servers, backups, quota, chosen = fleet

    assert plan(servers, backups, quota, chosen) == plan(
        list(reversed(servers)), backups[::-1], quota, chosen
    )
