"""The planner's words: what each server's part says, exactly, and a scheduled slot's busy
servers and their later tries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backup_orchestrator.domain.planner import (
    ADOPTED,
    Action,
    orphaned,
    plan,
)
from backup_orchestrator.domain.records import RETAIN_TAG, PruneScope, Quota, Server
from tests.support.planning import (
    NOW,
    SELECTED,
    backup,
    by_name,
    policy,
    quota_for,
    server,
)

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
