"""The pure planner, decision by decision (the properties are in test_planner_properties.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.drill_servers import DRILL_OF
from backup_orchestrator.domain.planner import (
    DRILL_SERVER,
    Action,
    PlanningError,
    ServerPlan,
    orphaned,
    plan,
    tagged_for_backup,
)
from backup_orchestrator.domain.records import RETAIN_TAG, PruneScope, Quota
from tests.support.planning import (
    NOW,
    SELECTED,
    backup,
    by_name,
    policy,
    quota_for,
    server,
)

# ---- selection and each server's part ------------------------------------------------------


def test_selects_servers_tagged_with_exactly_the_selection_tag() -> None:
    servers = [
        server("chef-a"),
        server("chef-b", tags={"opsworks-cm-backup": "Enabled"}),
        server("chef-c", tags={"opsworks-cm-backup": "disabled"}),
        server("chef-d", tags={}),
    ]

    result = plan(servers, [], Quota(0, 50), policy())

    assert [p.server_name for p in result.servers] == ["chef-a"]


def test_a_server_whose_state_refuses_a_backup_fails_saying_so() -> None:
    servers = [server("chef-a"), server("chef-b", "UNDER_MAINTENANCE")]

    result = by_name(plan(servers, [], Quota(0, 50), policy()))

    assert result["chef-a"].action is Action.CREATE
    assert result["chef-b"].action is Action.FAIL
    assert "UNDER_MAINTENANCE" in result["chef-b"].reason


def test_named_servers_are_selected_without_the_tag() -> None:
    servers = [server("chef-a", tags={}), server("chef-b")]

    result = plan(servers, [], Quota(0, 50), policy(servers=("chef-a",)))

    assert [p.server_name for p in result.creating] == ["chef-a"]


def test_unknown_named_server_rejects_the_plan() -> None:
    with pytest.raises(PlanningError, match=r"'servers'.*'ghost'"):
        plan([server("chef-a")], [], Quota(0, 50), policy(servers=("chef-a", "ghost")))
    with pytest.raises(PlanningError, match="no OpsWorks CM server named 'ghost', 'spook'"):
        plan([server("chef-a")], [], Quota(0, 50), policy(servers=("ghost", "spook")))


def test_a_restore_drills_server_is_never_backed_up() -> None:
    # It carries the selection tag (copied by hand, say): it is still never selected, and a
    # run that names it does nothing to it, saying why.
    drill = server("drill-chef-a-1a2b3c", tags={**SELECTED, DRILL_OF: "chef-a"})
    servers = [server("chef-a"), drill]

    tagged = plan(servers, [], Quota(0, 50), policy())
    named = by_name(plan(servers, [], Quota(0, 50), policy(servers=(drill.name,))))

    assert [p.server_name for p in tagged.servers] == ["chef-a"]
    assert not tagged_for_backup(drill, ("opsworks-cm-backup", "enabled"))
    assert named[drill.name] == ServerPlan(drill.name, Action.NOTHING, DRILL_SERVER)


def test_a_server_whose_tags_could_not_be_read_fails_alone() -> None:
    servers = [server("chef-a"), server("chef-b", tags={}, tags_error="AccessDeniedException")]

    result = by_name(plan(servers, [], Quota(0, 50), policy()))

    assert result["chef-a"].action is Action.CREATE
    assert result["chef-b"].action is Action.FAIL
    assert "AccessDeniedException" in result["chef-b"].reason


def test_a_server_whose_own_backup_is_still_running_needs_nothing() -> None:
    running = backup("chef-a", 0.1, status="IN_PROGRESS")

    result = plan([server("chef-a", "BACKING_UP")], [running], quota_for([running]), policy())

    [only] = result.servers
    assert only.action is Action.NOTHING
    assert running.backup_id in only.reason


def test_a_server_busy_with_somebody_elses_backup_fails() -> None:
    theirs = backup("chef-a", 0.1, status="IN_PROGRESS", own=False)

    result = plan([server("chef-a", "BACKING_UP")], [theirs], quota_for([theirs]), policy())

    assert result.servers[0].action is Action.FAIL
    assert "BACKING_UP" in result.servers[0].reason


# ---- retention ----------------------------------------------------------------------------


def test_retention_is_deferred_until_the_new_backup_is_ok() -> None:
    backups = [backup("chef-a", d) for d in (1, 2, 3, 4)]

    result = plan([server("chef-a")], backups, quota_for(backups), policy(retain=2))

    only = result.servers[0]
    assert only.delete_now == []
    assert [d.backup_id for d in only.deferred] == [b.backup_id for b in backups[1:]]
    assert result.used_when_settled == 2


def test_retain_tag_overrides_default_and_run_override_wins() -> None:
    backups = [backup("chef-a", d) for d in (1, 2, 3)]
    tagged = server("chef-a", tags={**SELECTED, RETAIN_TAG: "3"})

    from_tag = plan([tagged], backups, quota_for(backups), policy(retain=1)).servers[0]
    from_run = plan(
        [tagged], backups, quota_for(backups), policy(retain=1, retain_override=2)
    ).servers[0]

    assert (from_tag.retain_granted, len(from_tag.deferred)) == (3, 1)
    assert (from_run.retain_granted, len(from_run.deferred)) == (2, 2)


@pytest.mark.parametrize(("value", "kept"), [("1", 1), ("07", 7), ("49", 49)])
def test_retain_tag_accepts_plain_decimals_from_1_to_49(value: str, kept: int) -> None:
    tagged = server("chef-a", tags={**SELECTED, RETAIN_TAG: value})

    [only] = plan([tagged], [], Quota(0, 50), policy()).servers

    assert (only.action, only.retain_asked) == (Action.CREATE, kept)


@pytest.mark.parametrize(
    "value",
    # The last four are digits the service accepts in tag values, but not the plain 0-9.
    ["0", "50", "100", "seven", "-1", "+5", "5.0", "1e1", "", " 5", "٣", "\uff13", "²", "\u09ed"],
)
def test_a_bad_retain_tag_fails_that_server_alone(value: str) -> None:
    servers = [server("chef-a", tags={**SELECTED, RETAIN_TAG: value}), server("chef-b")]

    result = by_name(plan(servers, [], Quota(0, 50), policy()))

    assert result["chef-a"].action is Action.FAIL
    assert RETAIN_TAG in result["chef-a"].reason
    assert result["chef-b"].action is Action.CREATE


def test_limit_shared_fairly_when_retention_cannot_fit() -> None:
    servers = [server(f"chef-{i}") for i in range(10)]
    backups = [backup(s.name, d) for s in servers for d in range(1, 6)]

    result = plan(servers, backups, quota_for(backups), policy(retain=10))

    assert {p.retain_granted for p in result.servers} == {5}
    assert all("instead of 10" in p.reason for p in result.servers)
    assert result.used_when_settled == 50
    # The account is full: ten backups must go now to fit ten new ones, never a newest one.
    assert len(result.delete_now) == 10
    newest = {backup(s.name, 1).backup_id for s in servers}
    assert not {d.backup_id for d in result.delete_now} & newest


def test_failed_backups_make_room_first() -> None:
    backups = [backup("chef-a", 1), backup("chef-a", 2), backup("chef-a", 3, status="FAILED")]

    result = plan([server("chef-a")], backups, quota_for(backups, 3), policy(retain=3))

    assert [d.backup_id for d in result.delete_now] == [backups[2].backup_id]


def test_only_good_backup_stays_when_a_newer_one_failed() -> None:
    # The newest backup FAILED; the older OK one is the server's only good backup.
    good, failed = backup("chef-a", 2), backup("chef-a", 1, status="FAILED")

    result = plan([server("chef-a")], [good, failed], quota_for([good, failed], 2), policy())

    [only] = result.servers
    assert [d.backup_id for d in only.delete_now] == [failed.backup_id]
    assert good.backup_id not in {d.backup_id for d in only.deferred}


def test_all_manual_scope_prunes_other_manual_backups_but_not_automated() -> None:
    backups = [
        backup("chef-a", 1, own=False),
        backup("chef-a", 2, own=False),
        backup("chef-a", 3, kind="AUTOMATED"),
    ]

    result = plan(
        [server("chef-a")],
        backups,
        quota_for(backups),
        policy(retain=1, prune_scope=PruneScope.ALL_MANUAL),
    )

    assert {d.backup_id for d in result.servers[0].deferred} == {b.backup_id for b in backups[:2]}


def test_lookalike_descriptions_are_not_the_products() -> None:
    lookalikes = [
        backup("chef-a", d, description=text)
        for d, text in (
            (2, "[opsworks-cm-backup-exempt] golden image before the migration"),
            (3, "[opsworks-cm-backup run=seeded] scheduled backup"),
            (4, "[opsworks-cm-backup run=scheduled-20251399T020000Z] nightly"),
        )
    ]
    backups = [backup("chef-a", 1), *lookalikes]

    result = plan([server("chef-a")], backups, quota_for(backups, 5), policy(retain=1))

    touched = {d.backup_id for p in result.servers for d in p.delete_now + p.deferred}
    assert touched.isdisjoint(b.backup_id for b in lookalikes)


# ---- the limit: liveness and priority --------------------------------------------------------


def test_full_account_backs_up_every_server_that_can_make_room() -> None:
    # 46 backups made by hand for an untagged server fill the account with a, b and their two
    # backups each; c, new, has none. a and b each free a slot by losing their older backup.
    hand = [backup("other", d / 10, own=False) for d in range(1, 47)]
    fleet = [backup(n, d) for n in ("a", "b") for d in (1, 2)]
    servers = [server("a"), server("b"), server("c"), server("other", tags={})]

    result = by_name(plan(servers, hand + fleet, quota_for(hand + fleet, 50), policy()))

    assert (result["a"].action, result["b"].action) == (Action.CREATE, Action.CREATE)
    assert [d.backup_id for d in result["a"].delete_now] == [backup("a", 2).backup_id]
    assert [d.backup_id for d in result["b"].delete_now] == [backup("b", 2).backup_id]
    assert result["c"].action is Action.FAIL
    assert "no room" in result["c"].reason
    assert "2 server(s) that fit were backed up first" in result["c"].reason


def test_full_of_backups_it_may_not_delete_fails_with_the_reason() -> None:
    backups = [backup("chef-a", d, own=False) for d in range(1, 4)]

    result = plan([server("chef-a")], backups, quota_for(backups, 3), policy())

    assert result.creating == []
    assert result.servers[0].action is Action.FAIL
    assert "did not create" in result.servers[0].reason
    assert result.delete_now == []


def test_newest_good_backup_only_goes_after_the_new_one_is_ok() -> None:
    backups = [backup("chef-a", 1)]

    result = plan([server("chef-a")], backups, quota_for(backups, 1), policy(retain=1))

    # Limit 1 with one good backup: nothing may be deleted first, so there is no room.
    assert result.creating == []
    assert "no room" in result.servers[0].reason


def test_servers_most_in_need_get_the_last_slots() -> None:
    servers = [server("chef-a"), server("chef-b"), server("chef-c")]
    backups = [backup("chef-a", 1, own=False), backup("chef-b", 9, own=False)]

    result = plan(servers, backups, quota_for(backups, 4), policy())

    # Two free slots, three servers that cannot make room: the one with no good backup and the
    # one whose good backup is oldest.
    assert [p.server_name for p in result.creating] == ["chef-b", "chef-c"]


def test_the_oldest_good_backup_counts_before_the_latest_attempt() -> None:
    # chef-a's good backup is older, though it tried (and failed) more recently than chef-b.
    servers = [server("chef-a"), server("chef-b")]
    backups = [
        backup("chef-a", 9, own=False),
        backup("chef-a", 0.5, own=False, status="FAILED"),
        backup("chef-b", 3, own=False),
    ]

    result = plan(servers, backups, quota_for(backups, 4), policy())

    assert [p.server_name for p in result.creating] == ["chef-a"]


def test_a_server_left_out_for_room_goes_first_next_slot() -> None:
    # Two new servers, one free slot; the backup of whichever goes first ends FAILED, so
    # neither has a good backup next slot: the other one must still go first then.
    servers = [server("chef-a"), server("chef-b")]
    first = plan(servers, [], Quota(49, 50), policy())
    [went] = first.creating
    attempt = backup(went.server_name, 0.5, status="FAILED")

    second = plan(servers, [attempt], Quota(49, 50), policy())

    assert [p.server_name for p in second.creating] != [went.server_name]


# ---- ownership over time --------------------------------------------------------------------


def test_backups_of_an_earlier_server_of_the_same_name_are_never_its_own() -> None:
    # prod was a Chef server until 10 days ago; now prod is a Puppet server.
    old = [backup("prod", d) for d in (11, 12, 13)]
    recreated = server("prod", engine="Puppet", created=NOW - timedelta(days=10))
    mine = [backup("prod", d, engine="Puppet") for d in (1, 2, 3)]
    backups = old + mine

    result = plan([recreated], backups, quota_for(backups, len(backups)), policy(retain=1))

    [only] = result.servers
    touched = {d.backup_id for d in only.delete_now + only.deferred}
    assert touched == {b.backup_id for b in mine}
    assert mine[0].backup_id not in {d.backup_id for d in only.delete_now}
    assert {b.backup_id for b in orphaned([recreated], backups)} == {b.backup_id for b in old}


def test_a_backup_of_another_engine_is_not_the_servers() -> None:
    stray = backup("prod", 1, engine="ChefAutomate")
    puppet = server("prod", engine="Puppet")

    result = plan([puppet], [stray], quota_for([stray], 1), policy(retain=1))

    assert result.creating == []
    assert orphaned([puppet], [stray]) == [stray]


def test_backups_of_servers_that_no_longer_exist_are_orphans() -> None:
    gone = backup("chef-old", 3)
    automated = backup("chef-old", 2, kind="AUTOMATED")
    mine = backup("chef-a", 1)

    assert orphaned([server("chef-a")], [gone, automated, mine]) == [gone]


# ---- a retried run ------------------------------------------------------------------------


def test_a_retried_run_adopts_its_backup_and_keeps_the_deferred_deletions() -> None:
    run = "scheduled-20260105T120000Z"
    started = backup("chef-a", 0.01, status="IN_PROGRESS", run_id=run)
    older = [backup("chef-a", d) for d in (1, 2, 3)]
    backups = [started, *older]

    result = plan(
        [server("chef-a", "BACKING_UP")], backups, quota_for(backups), policy(retain=2, run_id=run)
    )

    [only] = result.servers
    assert (only.action, only.backup_id) == (Action.ADOPT, started.backup_id)
    assert [d.backup_id for d in only.deferred] == [older[1].backup_id, older[2].backup_id]
    assert result.creating == []
    assert result.used_after_run == 4
    assert result.used_when_settled == 2


def test_a_backup_of_another_run_is_not_adopted() -> None:
    other = backup("chef-a", 0.01, status="IN_PROGRESS", run_id="manual-abc")

    result = plan(
        [server("chef-a", "BACKING_UP")],
        [other],
        quota_for([other]),
        policy(run_id=marker.scheduled_run_id(NOW)),
    )

    assert result.servers[0].action is Action.NOTHING
