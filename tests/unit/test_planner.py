"""The pure planner, decision by decision (the properties are in test_planner_properties.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backup_orchestrator import marker
from backup_orchestrator.drill_servers import DRILL_OF
from backup_orchestrator.models import RETAIN_TAG, PruneScope, Quota, Server
from backup_orchestrator.planner import (
    ADOPTED,
    DRILL_SERVER,
    Action,
    PlanningError,
    ServerPlan,
    orphaned,
    plan,
    tagged_for_backup,
)
from tests.unit.planning import (
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


# ---- what each part says, exactly -----------------------------------------------------------


def test_every_reason_says_what_the_operator_needs() -> None:
    gone = server("chef-gone", "GONE")
    busy = server("chef-busy", "UNDER_MAINTENANCE")
    unreadable = server("chef-tags", tags={}, tags_error="AccessDeniedException: no")
    mistagged = server("chef-tag", tags={**SELECTED, RETAIN_TAG: "x"})
    running = server("chef-running", "BACKING_UP")
    in_progress = backup("chef-running", 0.1, status="IN_PROGRESS")
    ok = server("chef-ok")

    result = by_name(
        plan(
            [gone, busy, unreadable, mistagged, running, ok], [in_progress], Quota(1, 50), policy()
        )
    )

    assert result["chef-gone"].action is Action.NOTHING
    assert result["chef-gone"].reason == "the server no longer exists"
    assert result["chef-busy"].reason == (
        "not backed up: the server is UNDER_MAINTENANCE; backups can start only when it is "
        "RUNNING, HEALTHY or UNHEALTHY"
    )
    assert result["chef-tags"].reason == (
        "not backed up: its tags could not be read (AccessDeniedException: no), so neither "
        "whether it is selected nor its retention is known"
    )
    assert result["chef-tag"].reason == (
        f"not backed up: its tag {RETAIN_TAG}='x' is not a whole number from 1 to 49 written "
        "with the digits 0-9; fix the tag"
    )
    assert result["chef-running"].reason == (
        f"backup {in_progress.backup_id} this product started (run {in_progress.run_id}) is "
        "still in progress; that run follows it, so no second one is made"
    )
    assert result["chef-ok"].reason == "keeping 7 backups"
    # The retention asked is known for every server whose tags were read and understood.
    assert {n: p.retain_asked for n, p in result.items()} == {
        "chef-busy": 7,
        "chef-gone": None,
        "chef-ok": 7,
        "chef-running": 7,
        "chef-tag": None,
        "chef-tags": None,
    }


@pytest.mark.parametrize(
    ("scope", "protected"),
    [
        (
            PruneScope.OWN,
            "backups this product did not create, automated or in-progress backups, backups of "
            "deleted servers, or the newest good backup of a server",
        ),
        (
            PruneScope.ALL_MANUAL,
            "automated or in-progress backups, backups of deleted servers, or the newest good "
            "backup of a server",
        ),
    ],
)
def test_no_room_says_what_fills_the_limit(scope: PruneScope, protected: str) -> None:
    theirs = [backup("chef-a", 1, own=False, kind="AUTOMATED")]

    [only] = plan([server("chef-a")], theirs, Quota(3, 3), policy(prune_scope=scope)).servers

    assert only.reason == (
        "not backed up: no room under the account's manual-backup limit (3 of 3 used) and the "
        f"backups filling it are ones this run may not delete ({protected}); raise the limit, "
        "delete old manual backups, or lower retention"
    )


def test_the_last_free_slot_is_shared_out_too() -> None:
    # Five slots for two servers that each want three: one keeps three, the other two.
    servers = [server("chef-a"), server("chef-b")]
    backups = [backup(n, d) for n in ("chef-a", "chef-b") for d in (1, 2, 3)]

    result = by_name(plan(servers, backups, quota_for(backups, 5), policy(retain=3)))

    assert (result["chef-a"].retain_granted, result["chef-b"].retain_granted) == (3, 2)
    assert result["chef-a"].reason == "keeping 3 backups"
    assert result["chef-b"].reason == (
        "keeping 2 backups instead of 3: the account's manual-backup limit (5) is shared by 2 "
        "servers"
    )


def test_a_retried_runs_adopted_server_makes_room_for_the_others() -> None:
    # The account is full; chef-a's backup was started by the first attempt and chef-a has an
    # older backup it may lose; chef-b has nothing and needs that room.
    run = "scheduled-20260105T120000Z"
    started = backup("chef-a", 0.01, status="IN_PROGRESS", run_id=run)
    older = [backup("chef-a", 1), backup("chef-a", 2)]
    backups = [started, *older]

    result = by_name(
        plan(
            [server("chef-a", "BACKING_UP"), server("chef-b")],
            backups,
            quota_for(backups, 3),
            policy(run_id=run),
        )
    )

    assert result["chef-b"].action is Action.CREATE
    assert [d.backup_id for d in result["chef-a"].delete_now] == [older[1].backup_id]


def test_a_server_that_never_got_a_backup_goes_before_one_whose_last_attempt_failed() -> None:
    # Neither has a good backup nor anything it may lose; chef-a's last attempt (made by hand)
    # failed yesterday. One slot: chef-b, never attempted, goes first.
    attempt = backup("chef-a", 1, own=False, status="FAILED")

    result = plan([server("chef-a"), server("chef-b")], [attempt], Quota(49, 50), policy())

    assert [p.server_name for p in result.creating] == ["chef-b"]


@pytest.mark.parametrize(
    ("created", "engine", "orphan"),
    [
        (timedelta(days=2), "ChefAutomate", True),  # made before this server existed
        (timedelta(days=1), "ChefAutomate", False),  # made the moment it was created
        (timedelta(days=0.5), "ChefAutomate", False),
        (timedelta(days=0.5), "Puppet", True),  # another engine
    ],
)
def test_a_backup_is_an_orphan_only_when_provably_of_an_earlier_server(
    created: timedelta, engine: str, orphan: bool
) -> None:
    current = server("prod", created=NOW - timedelta(days=1))
    made = backup("prod", created.total_seconds() / 86_400, engine=engine)

    assert (orphaned([current], [made]) == [made]) is orphan


def test_a_server_of_unknown_engine_or_age_orphans_nothing() -> None:
    unknown = Server("prod", "HEALTHY")
    made = backup("prod", 5)

    assert orphaned([unknown], [made]) == []


def test_deletions_say_why_and_failed_backups_go_before_good_ones() -> None:
    # Keeping one backup in a full account: one must go now; the newer FAILED one goes first,
    # and the rest wait for the new backup.
    newest, failed, oldest = (
        backup("chef-a", 1),
        backup("chef-a", 2, status="FAILED"),
        backup("chef-a", 3),
    )
    backups = [newest, failed, oldest]

    result = plan([server("chef-a")], backups, quota_for(backups, 3), policy(retain=1))

    [only] = result.servers
    assert [(d.backup_id, d.reason) for d in only.delete_now] == [
        (
            failed.backup_id,
            "deleted now to make room under the account's manual-backup limit (3 of 3 used); "
            "it had failed",
        )
    ]
    assert [(d.backup_id, d.reason) for d in only.deferred] == [
        (newest.backup_id, "beyond retention (1 kept), removed once the new backup is OK"),
        (oldest.backup_id, "beyond retention (1 kept), removed once the new backup is OK"),
    ]
    assert (result.quota, result.used_after_run, result.used_when_settled) == (Quota(3, 3), 3, 1)


def test_room_made_from_good_backups_says_they_were_beyond_retention() -> None:
    backups = [backup("chef-a", 1), backup("chef-a", 2)]

    two = plan([server("chef-a")], backups, quota_for(backups, 2), policy(retain=1))

    assert [d.reason for d in two.servers[0].delete_now] == [
        "deleted now to make room under the account's manual-backup limit (2 of 2 used); "
        "it was beyond retention"
    ]


def test_backups_made_at_the_same_moment_make_room_in_a_stable_order() -> None:
    # Two servers whose old backups were made in the same second (one schedule slot).
    servers = [server("chef-a"), server("chef-b")]
    backups = [backup(n, d) for n in ("chef-a", "chef-b") for d in (1, 2)]

    result = plan(servers, backups, quota_for(backups, 4), policy(retain=1))

    assert [d.backup_id for d in result.delete_now] == [
        backup("chef-a", 2).backup_id,
        backup("chef-b", 2).backup_id,
    ]


def test_a_server_with_fewer_backups_than_it_asks_keeps_them_all() -> None:
    backups = [backup("chef-a", 1), backup("chef-a", 2)]

    [only] = plan([server("chef-a")], backups, quota_for(backups), policy(retain=7)).servers

    assert (only.retain_asked, only.retain_granted, only.reason) == (7, 7, "keeping 7 backups")
    assert only.deferred == only.delete_now == []


def test_an_adopted_backup_already_holds_its_slot() -> None:
    # A retried run in a full account: the adopted backup is one of the limit's four slots and
    # the server's own; three more fit, so it keeps what it asks.
    run = "scheduled-20260105T120000Z"
    started = backup("chef-a", 0.01, status="IN_PROGRESS", run_id=run)
    older = [backup("chef-a", d) for d in (1, 2, 3)]
    backups = [started, *older]

    [only] = plan(
        [server("chef-a", "BACKING_UP")],
        backups,
        quota_for(backups, 4),
        policy(retain=3, run_id=run),
    ).servers

    assert (only.retain_granted, only.reason) == (3, f"{ADOPTED}; keeping 3 backups")
    assert [d.backup_id for d in only.deferred] == [older[2].backup_id]


def test_a_server_left_out_for_room_still_says_what_it_asked() -> None:
    backups = [backup("chef-a", 1, own=False)]

    [only] = plan([server("chef-a")], backups, quota_for(backups, 1), policy(retain=4)).servers

    assert (only.action, only.retain_asked, only.retain_granted) == (Action.FAIL, 4, None)


# ---- a scheduled slot's busy servers, and its later tries -----------------------------------


def test_a_busy_server_is_tried_again_when_the_slot_can() -> None:
    servers = [server(n, status) for n, status in (("chef-a", "MODIFYING"), ("chef-b", "HEALTHY"))]

    result = by_name(plan(servers, [], Quota(0, 50), policy(retry_busy=True)))

    assert result["chef-a"].action is Action.RETRY
    assert (
        result["chef-a"].reason == "the server is MODIFYING, so it is tried again later in the slot"
    )
    assert result["chef-a"].retain_asked == 7
    assert result["chef-b"].action is Action.CREATE


def test_a_server_that_is_not_merely_busy_is_not_tried_again() -> None:
    lost = server("chef-a", "CONNECTION_LOST")

    [only] = plan([lost], [], Quota(0, 50), policy(retry_busy=True)).servers

    assert only.action is Action.FAIL


def test_the_last_try_counts_a_server_still_busy_missed() -> None:
    busy = server("chef-a", "UNDER_MAINTENANCE")

    [only] = plan([busy], [], Quota(0, 50), policy(within=("chef-a",), retried=True)).servers

    assert only.action is Action.FAIL
    assert only.reason == (
        "not backed up: the server is UNDER_MAINTENANCE at every try of the slot's retry window; "
        "backups can start only when it is RUNNING, HEALTHY or UNHEALTHY"
    )


def test_a_retry_is_about_its_servers_only_and_still_needs_the_tag() -> None:
    servers = [
        server("chef-a"),
        server("chef-b"),
        server("chef-untagged", tags={}),
    ]

    result = plan(
        servers,
        [],
        Quota(0, 50),
        policy(within=("chef-a", "chef-untagged", "chef-gone"), retried=True),
    )

    parts = by_name(result)
    assert [p.server_name for p in result.servers] == ["chef-a", "chef-gone", "chef-untagged"]
    assert parts["chef-a"].action is Action.CREATE
    assert (parts["chef-untagged"].action, parts["chef-untagged"].reason) == (
        Action.NOTHING,
        "not selected any more (its selection tag was removed)",
    )
    assert (parts["chef-gone"].action, parts["chef-gone"].reason) == (
        Action.NOTHING,
        "the server no longer exists",
    )


def test_a_failed_backup_waits_for_the_new_one_too_and_says_so() -> None:
    failed = backup("chef-a", 1, status="FAILED")

    [only] = plan([server("chef-a")], [failed], quota_for([failed]), policy()).servers

    assert [(d.backup_id, d.reason) for d in only.deferred] == [
        (failed.backup_id, "failed backup, removed once the new backup is OK")
    ]


def test_an_adopted_backup_of_a_server_whose_tags_cannot_be_read_gets_no_retention() -> None:
    run = "scheduled-20260105T120000Z"
    started = backup("chef-a", 0.01, status="IN_PROGRESS", run_id=run)
    older = [backup("chef-a", d) for d in (1, 2, 3)]
    unreadable = server("chef-a", "BACKING_UP", tags={}, tags_error="ThrottlingException")

    [only] = plan(
        [unreadable], [started, *older], quota_for([started, *older]), policy(run_id=run)
    ).servers

    assert (only.action, only.backup_id) == (Action.ADOPT, started.backup_id)
    assert only.deferred == only.delete_now == []
    assert only.reason == f"{ADOPTED}; no retention is applied: ThrottlingException"
