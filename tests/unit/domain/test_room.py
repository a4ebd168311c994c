"""Room on its way under the manual-backup limit (domain/room.py): how much of it the service still
counts, how much of it a later try of the slot plans with for the servers waiting for it, and what
becomes of a server whose room was still being freed when the run stopped waiting."""

from __future__ import annotations

import pytest

from backup_orchestrator.domain.records import Backup, Outcome, Quota
from backup_orchestrator.domain.room import Room, after_waiting, in_flight, usable
from tests.support.planning import backup

LIMIT_MESSAGE = "The maximum number of manual backups (6) has been reached."


def an_account(deleting: int, others: int = 4) -> list[Backup]:
    """`others` backups that count whatever the reading, `deleting` being deleted, an automated
    one (never counted) and one IN_PROGRESS (counted)."""
    return [
        *(backup("chef-a", 1 + d) for d in range(others)),
        *(backup("chef-b", 10 + d, status="DELETING") for d in range(deleting)),
        backup("chef-a", 0.5, kind="AUTOMATED"),
        backup("chef-b", 0.1, status="IN_PROGRESS"),
    ]


@pytest.mark.parametrize(
    ("used", "expected"),
    [
        # The service counts the two being deleted: room on its way.
        (7, 2),
        # It counts one of them (the other ended between the two reads): its slot is free now.
        (6, 1),
        # It counts none: a backup being deleted frees its slot at once.
        (5, 0),
        # Somebody else made one between the reads: never more than the backups being deleted.
        (8, 2),
        # Somebody else deleted one between the reads: never less than none.
        (4, 0),
    ],
)
def test_room_in_flight_is_what_the_service_still_counts_of_the_backups_being_deleted(
    used: int, expected: int
) -> None:
    assert in_flight(an_account(deleting=2), Quota(used=used, maximum=7)) == expected


def test_nothing_is_in_flight_where_nothing_is_being_deleted() -> None:
    assert in_flight(an_account(deleting=0), Quota(used=6, maximum=6)) == 0


def test_without_servers_waiting_for_room_the_limit_is_the_services() -> None:
    # Room on its way that nobody of this run waits for is not planned on: somebody else may be
    # waiting for it (a person who deleted a backup to make one by hand).
    assert usable(Quota(6, 6), 3, waiting=0, held=0) == Room(Quota(6, 6), coming=0, held=0)


def test_room_on_its_way_is_free_for_the_servers_waiting_for_it_and_no_more() -> None:
    # Two servers wait; three deletions are on their way (one the tracker's): two count as free.
    assert usable(Quota(6, 6), 3, waiting=2, held=0) == Room(Quota(4, 6), coming=2, held=0)


def test_a_waiting_server_whose_room_has_arrived_takes_it_from_the_free_room() -> None:
    # The deletion made for it has ended: its slot is free, and nothing is on its way.
    assert usable(Quota(5, 6), 0, waiting=1, held=0) == Room(Quota(5, 6), coming=0, held=0)


def test_a_waiting_server_busy_again_keeps_its_room_from_everybody_else() -> None:
    # Its deletion is still on its way: counted free, then held for it, so nothing is left.
    assert usable(Quota(6, 6), 1, waiting=0, held=1) == Room(Quota(6, 6), coming=1, held=1)
    # Its deletion has ended: the free slot is held for it.
    assert usable(Quota(5, 6), 0, waiting=0, held=1) == Room(Quota(6, 6), coming=0, held=1)


def test_only_room_there_is_can_be_held() -> None:
    # Somebody else took the slot its deletion freed: nothing to hold, and nothing made up.
    assert usable(Quota(6, 6), 0, waiting=0, held=1) == Room(Quota(6, 6), coming=0, held=0)


def test_the_servers_that_can_start_now_come_before_one_busy_again() -> None:
    # One slot on its way, owed to two: the one that can start gets it.
    assert usable(Quota(6, 6), 1, waiting=1, held=1) == Room(Quota(5, 6), coming=1, held=0)
    # Two on their way: one each.
    assert usable(Quota(6, 6), 2, waiting=1, held=1) == Room(Quota(5, 6), coming=2, held=1)


def test_a_server_still_waiting_when_the_slot_can_be_tried_again_is_retrying_saying_why() -> None:
    outcome, reason = after_waiting(LIMIT_MESSAGE, 99.6, retry_in_slot=True, retried=False)

    assert outcome is Outcome.RETRYING
    assert reason == (
        "the room made for its backup under the account's manual-backup limit is still being "
        "freed (the service still counts the backups being deleted; waited 100 s), so it is "
        "tried again later in the slot, and that room is kept for it"
    )


@pytest.mark.parametrize(
    ("waited", "retried", "said"),
    [
        (2.4, False, "; the deletions made for room were still counted after waiting 2 s"),
        # No time was left to wait at all.
        (0.0, False, ""),
        # The slot's last try.
        (
            30.0,
            True,
            "; the deletions made for room were still counted after waiting 30 s; the slot's "
            "retry window has ended",
        ),
    ],
)
def test_a_server_still_waiting_when_the_slot_is_not_tried_again_failed_saying_why(
    waited: float, retried: bool, said: str
) -> None:
    outcome, reason = after_waiting(LIMIT_MESSAGE, waited, retry_in_slot=False, retried=retried)

    assert outcome is Outcome.FAILED
    assert reason == (
        f"not backed up: the account's manual-backup limit was still full ({LIMIT_MESSAGE}){said}"
    )
