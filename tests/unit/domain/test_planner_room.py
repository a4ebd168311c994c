"""The planner on a later try of the slot, for servers waiting for room an earlier try made for
them (domain/room.py): the deletions still on their way are their room, so the try deletes
nothing more for them and gives that room to nobody else; under either reading of `DELETING`
(safety rule 14)."""

from __future__ import annotations

import pytest

from backup_orchestrator.domain.planner import Action, Plan, Policy, plan
from backup_orchestrator.domain.records import Backup, Quota
from tests.support.planning import backup, by_name, policy, quota_for, server

# A try of the slot: for these servers, tried again while the retry window is open.
RETRIED = ("chef-a", "chef-b")


def a_later_try(
    *, waiting: tuple[str, ...] = ("chef-a",), servers: tuple[str, ...] = RETRIED
) -> Policy:
    return policy(within=servers, retry_busy=True, retried=True, waiting_for_room=waiting)


def deleting(server_name: str, days_ago: float) -> Backup:
    """A backup of the product's that the slot's first try deleted to make room."""
    return backup(server_name, days_ago, status="DELETING")


def counted(backups: list[Backup], maximum: int) -> Quota:
    """The quota of a service that counts a backup until its deletion has ended."""
    going = sum(b.status == "DELETING" for b in backups)
    return Quota(quota_for(backups).used + going, maximum)


# chef-a kept its newest good backup and waits for the slot of the older one, being deleted;
# chef-b (busy at the slot's first try, not waiting for room) has only one good backup, made
# longer ago: most in need, were it not for chef-a's claim.
ACCOUNT = [backup("chef-a", 1), deleting("chef-a", 2), backup("chef-b", 5)]


def test_room_being_freed_for_a_waiting_server_is_its_own_and_nothing_more_goes() -> None:
    result = plan(
        [server("chef-a")], ACCOUNT[:2], counted(ACCOUNT[:2], 2), a_later_try(servers=("chef-a",))
    )

    [only] = result.servers
    assert (only.action, only.delete_now, only.waiting_for_room) == (Action.CREATE, [], True)
    assert result.coming == 1
    # Once the backup is made, the deletion it waited for has ended.
    assert (result.used_after_run, result.used_when_settled) == (2, 2)


def test_a_waiting_server_that_could_lose_more_still_loses_nothing_now() -> None:
    backups = [backup("chef-a", 1), deleting("chef-a", 2), backup("chef-a", 3)]

    result = plan(
        [server("chef-a")], backups, counted(backups, 3), a_later_try(servers=("chef-a",))
    )

    [only] = result.servers
    assert only.action is Action.CREATE
    assert only.delete_now == []
    assert result.delete_now == []


def test_room_being_freed_is_not_planned_on_for_a_server_not_waiting_for_it() -> None:
    # The same account in a manual run for chef-a: the room on its way is nobody's here.
    result = plan([server("chef-a")], ACCOUNT[:2], counted(ACCOUNT[:2], 2), policy())

    assert result.servers[0].action is Action.FAIL
    assert "no room" in result.servers[0].reason
    assert result.coming == 0


def test_the_room_a_server_waits_for_is_not_given_to_another_server_of_the_try() -> None:
    servers = [server("chef-a"), server("chef-b")]

    result = by_name(plan(servers, ACCOUNT, counted(ACCOUNT, 3), a_later_try()))

    assert result["chef-a"].action is Action.CREATE
    assert result["chef-a"].delete_now == []
    assert result["chef-b"].action is Action.FAIL
    assert "no room" in result["chef-b"].reason
    assert (
        "the room of 1 backup(s) is kept for the servers waiting for the room an earlier try "
        "of the slot made for them"
    ) in result["chef-b"].reason


def test_without_its_claim_the_server_most_in_need_would_take_that_room() -> None:
    # The same try, had chef-a's claim been lost: chef-b goes first (its good backup is older),
    # and the room on its way is not counted at all.
    servers = [server("chef-a"), server("chef-b")]
    quota = counted(ACCOUNT, 3)
    free = Quota(quota.used - 1, quota.maximum)  # the deletion has ended

    result = by_name(plan(servers, ACCOUNT[:1] + ACCOUNT[2:], free, a_later_try(waiting=())))

    assert result["chef-b"].action is Action.CREATE
    assert result["chef-a"].action is Action.FAIL


def test_once_the_deletion_has_ended_the_free_slot_is_the_waiting_servers() -> None:
    # A service that frees a slot as soon as its deletion starts (or the deletion has ended):
    # the slot is free now, and it is chef-a's.
    servers = [server("chef-a"), server("chef-b")]
    backups = [backup("chef-a", 1), backup("chef-b", 5)]

    result = by_name(plan(servers, backups, quota_for(backups, 3), a_later_try()))

    assert result["chef-a"].action is Action.CREATE
    assert result["chef-a"].delete_now == []
    assert result["chef-b"].action is Action.FAIL


@pytest.mark.parametrize(
    ("backups", "used"),
    [
        # Its deletion is still on its way (counted).
        (ACCOUNT, 3),
        # Its deletion has ended: the free slot is its own.
        ([ACCOUNT[0], ACCOUNT[2]], 2),
    ],
    ids=["deletion-on-its-way", "deletion-ended"],
)
def test_a_waiting_server_busy_again_keeps_its_room_and_its_claim(
    backups: list[Backup], used: int
) -> None:
    servers = [server("chef-a", "UNDER_MAINTENANCE"), server("chef-b")]

    result = by_name(plan(servers, backups, Quota(used, 3), a_later_try()))

    assert result["chef-a"].action is Action.RETRY
    assert result["chef-a"].waiting_for_room
    assert result["chef-b"].action is Action.FAIL
    assert "no room" in result["chef-b"].reason


def test_a_server_that_makes_its_own_room_still_does_beside_a_waiting_one() -> None:
    # chef-b can lose a backup of its own: it deletes one for its backup, chef-a none.
    backups = [*ACCOUNT, backup("chef-b", 6)]
    servers = [server("chef-a"), server("chef-b")]

    result = by_name(plan(servers, backups, counted(backups, 4), a_later_try()))

    assert (result["chef-a"].action, result["chef-b"].action) == (Action.CREATE, Action.CREATE)
    assert result["chef-a"].delete_now == []
    assert [d.backup_id for d in result["chef-b"].delete_now] == [backup("chef-b", 6).backup_id]


def test_the_servers_waiting_for_room_are_backed_up_first() -> None:
    backups = [backup("chef-a", 1), backup("chef-b", 5)]
    servers = [server("chef-a"), server("chef-b")]

    result: Plan = plan(servers, backups, quota_for(backups), a_later_try(waiting=("chef-b",)))

    assert [p.server_name for p in result.creating] == ["chef-b", "chef-a"]
    assert [p.server_name for p in result.servers] == ["chef-a", "chef-b"]
