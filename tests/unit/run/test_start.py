"""Which backup is deleted right before which server's backup starts: room is made only for a
backup about to start, so a server that is not started (the time limit) costs no deletion."""

from __future__ import annotations

from backup_orchestrator.domain.planner import plan
from backup_orchestrator.domain.records import Quota
from backup_orchestrator.run.start import _room_makers
from tests.support.planning import backup, policy, server


def test_each_server_beyond_the_free_slots_makes_its_own_room() -> None:
    # Three servers, one free slot: the first uses it, the other two delete one backup each.
    servers = [server("chef-a"), server("chef-b"), server("chef-c")]
    backups = [backup(name, days) for name in ("chef-b", "chef-c") for days in (1, 2)]

    planned = plan(servers, backups, Quota(used=4, maximum=5), policy(retain=2))
    room = _room_makers(planned)

    assert [p.server_name for p in planned.creating] == ["chef-a", "chef-b", "chef-c"]
    assert room["chef-a"] == []
    assert [len(room["chef-b"]), len(room["chef-c"])] == [1, 1]
    assert sorted(d.backup_id for ds in room.values() for d in ds) == sorted(
        d.backup_id for d in planned.delete_now
    )


def test_an_account_over_its_limit_is_brought_back_before_the_first_backup() -> None:
    # One backup over the limit (somebody lowered it): the first server deletes that one as well
    # as its own room; the second only its own.
    servers = [server("chef-a"), server("chef-b")]
    backups = [backup(name, days) for name in ("chef-a", "chef-b") for days in (1, 2, 3)]

    planned = plan(servers, backups, Quota(used=6, maximum=5), policy(retain=2))
    room = _room_makers(planned)

    assert len(planned.delete_now) == 3
    assert [len(room["chef-a"]), len(room["chef-b"])] == [2, 1]
    assert room["chef-a"] + room["chef-b"] == list(planned.delete_now)


def test_a_server_waiting_for_room_on_its_way_goes_first_and_deletes_nothing() -> None:
    # A later try of the slot: chef-b waits for the slot of its older backup, being deleted and
    # still counted; chef-a can lose a backup of its own. The limit is full.
    servers = [server("chef-a"), server("chef-b")]
    backups = [
        *(backup("chef-a", days) for days in (1, 2)),
        backup("chef-b", 1),
        backup("chef-b", 2, status="DELETING"),
    ]
    retry = policy(
        within=("chef-a", "chef-b"), retry_busy=True, retried=True, waiting_for_room=("chef-b",)
    )

    planned = plan(servers, backups, Quota(used=4, maximum=4), retry)
    room = _room_makers(planned)

    assert [p.server_name for p in planned.creating] == ["chef-b", "chef-a"]
    assert room["chef-b"] == []
    assert [d.backup_id for d in room["chef-a"]] == [backup("chef-a", 2).backup_id]
