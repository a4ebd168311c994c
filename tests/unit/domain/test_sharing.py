"""Sharing the manual-backup limit among the run's servers (sharing.py): what each may lose, who
starts, how many backups each keeps, and which deletions happen now."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup_orchestrator.domain.records import Backup, Quota
from backup_orchestrator.domain.sharing import Candidate, allocate, fair_shares, most_that_fit
from backup_orchestrator.domain.tiers import Retention, Tier
from tests.support.planning import backup, server


def _newest(backups: Sequence[Backup]) -> Backup | None:
    return max(backups, key=lambda b: (b.created_at, b.backup_id), default=None)


def candidate(
    name: str,
    ok: Sequence[float] = (),
    *,
    failed: Sequence[float] = (),
    by_hand: Sequence[float] = (),
    retain: int = 7,
    adopted: bool = False,
) -> Candidate:
    """A server with own backups `ok` and `failed` days old (what it may lose) and good ones
    made by hand (what it may not), as the planner sees it."""
    own = [backup(name, d) for d in ok] + [backup(name, d, status="FAILED") for d in failed]
    manual = own + [backup(name, d, own=False) for d in by_hand]
    return Candidate(
        server(name),
        Retention.of_retain(retain),
        Tier.DAILY,
        sorted(own, key=lambda b: (b.created_at, b.backup_id), reverse=True),
        protected=_newest([b for b in manual if b.status == "OK"]),
        last_attempt=_newest(manual),
        adopted=backup(name, 0.01, status="IN_PROGRESS") if adopted else None,
    )


def ids(backups: Sequence[Backup]) -> list[str]:
    return [b.backup_id for b in backups]


# ---- each server ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "transient", "spare", "demand"),
    [
        (candidate("a", ok=(1, 2, 3)), True, 2, 4),
        (candidate("a", ok=(2, 3), by_hand=(1,)), False, 2, 3),
        (candidate("a", failed=(1, 2)), False, 2, 1),
        (candidate("a"), False, 0, 1),
        (candidate("a", ok=(1, 2, 3), failed=(4,), retain=2), True, 3, 2),
    ],
    ids=["its newest good one is its own", "made by hand", "only failed", "none", "retain 2"],
)
def test_a_server_loses_now_all_but_its_newest_good_one_and_holds_at_most_its_retention(
    server: Candidate, transient: bool, spare: int, demand: int
) -> None:
    # It holds its new backup and its good ones, up to its retention.
    assert (server.transient, server.spare, server.demand) == (transient, spare, demand)


def test_the_server_longest_without_a_good_backup_and_then_without_a_try_goes_first() -> None:
    servers = [
        candidate("fresh", ok=(1,)),
        candidate("stale", ok=(5,)),
        candidate("tried-late", ok=(3,), failed=(0.5,)),
        candidate("tried-early", ok=(3,), failed=(2,)),
        candidate("never", failed=(1,)),
        candidate("nothing-b"),
        candidate("nothing-a"),
    ]

    ranked = sorted(servers, key=Candidate.priority)

    assert [c.name for c in ranked] == [
        "nothing-a", "nothing-b", "never", "stale", "tried-early", "tried-late", "fresh",
    ]  # fmt: skip


# ---- who starts -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adopters", "ranked", "quota", "starting"),
    [
        ([], [candidate("a"), candidate("b"), candidate("c")], Quota(0, 50), ["a", "b", "c"]),
        ([], [candidate("a"), candidate("b"), candidate("c")], Quota(48, 50), ["a", "b"]),
        # b brings two it can lose: room for its own new backup and for a's.
        ([], [candidate("a"), candidate("b", ok=(1, 2, 3))], Quota(50, 50), ["a", "b"]),
        ([candidate("x", ok=(1, 2))], [candidate("a"), candidate("b")], Quota(50, 50), ["a"]),
        # Two over the limit and one to lose: not even b fits.
        ([], [candidate("a"), candidate("b", ok=(1, 2))], Quota(52, 50), []),
    ],
    ids=["room for all", "room for two", "a spare makes room", "an adopter's spare", "over"],
)
def test_the_most_servers_that_fit_start_most_in_need_first(
    adopters: list[Candidate], ranked: list[Candidate], quota: Quota, starting: list[str]
) -> None:
    assert [c.name for c in most_that_fit(adopters, ranked, quota)] == starting


def fits(chosen: Sequence[Candidate], adopters: Sequence[Candidate], quota: Quota) -> bool:
    overflow = quota.used + len(chosen) - quota.maximum
    return not chosen or overflow <= sum(c.spare for c in [*chosen, *adopters])


SHAPES = st.tuples(st.integers(0, 3), st.booleans())  # own good backups, a newer one by hand


def shaped(name: str, shape: tuple[int, bool], retain: int = 7) -> Candidate:
    own, by_hand = shape
    newer = (0.5,) if by_hand else ()
    return candidate(name, ok=[d + 1.0 for d in range(own)], by_hand=newer, retain=retain)


@settings(deadline=None)
@given(st.lists(SHAPES, max_size=6), st.lists(SHAPES, max_size=2), st.integers(-3, 6))
def test_the_servers_that_start_fit_and_no_larger_set_would(
    ranked_shapes: list[tuple[int, bool]], adopter_shapes: list[tuple[int, bool]], free: int
) -> None:
    ranked = [shaped(f"chef-{i}", s) for i, s in enumerate(ranked_shapes)]
    adopters = [shaped(f"adopter-{i}", s) for i, s in enumerate(adopter_shapes)]
    quota = Quota(50 - free, 50)

    starting = most_that_fit(adopters, ranked, quota)

    assert starting == [c for c in ranked if c in starting]  # in priority order
    assert fits(starting, adopters, quota)
    sizes = range(len(starting) + 1, len(ranked) + 1)
    assert not any(
        fits(s, adopters, quota) for n in sizes for s in itertools.combinations(ranked, n)
    )
    needing = [c for c in ranked if c.spare == 0]
    assert [c for c in starting if c.spare == 0] == needing[: sum(c in starting for c in needing)]


# ---- how many each keeps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("participants", "capacity", "shares"),
    [
        ([candidate("a", failed=(1, 2)), candidate("b", ok=(1,), by_hand=(0.5,))], 10, [1, 2]),
        # Not enough for everyone's: level, the leftover to the earlier ones.
        ([candidate(n, ok=(1, 2, 3, 4), by_hand=(0.5,)) for n in "abc"], 7, [3, 2, 2]),
        # Its old newest backup stays until the new one is OK: two slots from the start.
        ([candidate("a", ok=(1, 2, 3)), candidate("b", ok=(1, 2, 3), by_hand=(0.5,))], 6, [3, 3]),
        (
            [candidate("a", ok=(1,), retain=1), candidate("b", ok=(1, 2, 3), by_hand=(0.5,))],
            4,
            [1, 2],
        ),
        # Fewer slots than servers: each still gets the one its new backup takes.
        ([candidate(n) for n in "abc"], 1, [1, 1, 1]),
    ],
)
def test_the_limit_is_water_filled_up_to_each_servers_demand(
    participants: list[Candidate], capacity: int, shares: list[int]
) -> None:
    assert list(fair_shares(participants, capacity).values()) == shares


@settings(deadline=None)
@given(st.lists(SHAPES, min_size=1, max_size=6), st.integers(1, 7), st.integers(0, 30))
def test_shares_never_pass_demand_or_capacity_and_differ_by_one_below_demand(
    shapes: list[tuple[int, bool]], retain: int, capacity: int
) -> None:
    participants = [shaped(f"chef-{i}", s, retain) for i, s in enumerate(shapes)]

    shares = fair_shares(participants, capacity)

    held = sum(shares.values()) + sum(c.transient and c.demand < 2 for c in participants)
    below = [shares[c.name] for c in participants if shares[c.name] < c.demand]
    assert all(1 <= shares[c.name] <= c.demand for c in participants)
    assert held <= max(capacity, sum(1 + c.transient for c in participants))
    assert not below or max(below) - min(below) <= 1
    assert not below or held >= capacity  # nothing left unused while somebody wants more


# ---- what goes, now or later ------------------------------------------------------------------


def test_beyond_its_share_a_server_loses_its_oldest_once_the_new_backup_is_ok() -> None:
    a = candidate("a", ok=(1, 2, 3, 4), retain=2)

    [share] = allocate([a], Quota(4, 50), need=0).values()

    assert share.granted == 2
    assert (ids(share.now), ids(share.deferred)) == ([], ids(a.pool[1:]))


def test_deletions_now_are_failed_ones_first_then_the_oldest_never_a_newest_good_one() -> None:
    # One over the limit (it was lowered): three must go now for two new backups.
    a = candidate("a", ok=(1, 5), failed=(0.5,), retain=1)
    b = candidate("b", ok=(2, 3, 4), retain=1)

    shares = allocate([a, b], Quota(6, 5), need=3)

    failed, newest_a, oldest_a = a.pool
    newest_b, middle_b, oldest_b = b.pool
    assert ids(shares["a"].now) == ids([failed, oldest_a])
    assert ids(shares["b"].now) == ids([oldest_b])
    assert ids(shares["a"].deferred) == ids([newest_a])
    assert ids(shares["b"].deferred) == ids([newest_b, middle_b])


def test_a_servers_newest_good_backup_never_goes_now_however_many_must() -> None:
    a = candidate("a", ok=(1, 2, 3), retain=1)

    [share] = allocate([a], Quota(3, 1), need=3).values()

    newest, middle, oldest = a.pool
    assert (ids(share.now), ids(share.deferred)) == (ids([oldest, middle]), ids([newest]))


@pytest.mark.parametrize("need", [0, -1])
def test_nothing_goes_now_when_the_new_backups_fit(need: int) -> None:
    a = candidate("a", ok=(1, 2, 3), failed=(4,), retain=1)

    [share] = allocate([a], Quota(4, 50), need=need).values()

    assert (share.now, ids(share.deferred)) == ([], ids(a.pool))


def test_a_limit_too_small_for_everyones_retention_grants_each_its_share() -> None:
    servers = [candidate(n, ok=(1, 2, 3, 4, 5), retain=10) for n in "ab"]

    shares = allocate(servers, Quota(10, 10), need=2)

    assert [s.granted for s in shares.values()] == [5, 5]
    assert [ids(s.now) for s in shares.values()] == [ids(c.pool[-1:]) for c in servers]
    assert all(s.deferred == [] for s in shares.values())


def test_an_adopted_backup_is_its_servers_new_one_and_takes_no_one_elses_slot() -> None:
    # Its new backup already exists (an earlier attempt of the run started it): the account
    # holds both servers' five good backups and that one, and has room for b's new backup.
    a = candidate("a", ok=(1, 2, 3, 4, 5), retain=10, adopted=True)
    b = candidate("b", ok=(1, 2, 3, 4, 5), retain=10)

    shares = allocate([a, b], Quota(11, 12), need=0)

    assert [s.granted for s in shares.values()] == [10, 10]
    assert all((s.now, s.deferred) == ([], []) for s in shares.values())
