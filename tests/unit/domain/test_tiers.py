"""Retention tiers: the grammar, its bounds, which tier a backup gets, and which backups stay."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from backup_orchestrator.domain.tiers import (
    MOST_KEPT,
    Retention,
    RetentionError,
    Tier,
    granted,
    keep_order,
    parse_retention,
    period_holders,
    tier_for,
)

UTC_ZONE = ZoneInfo("UTC")
D, W, M = Tier.DAILY, Tier.WEEKLY, Tier.MONTHLY


@pytest.mark.parametrize(
    ("text", "retention"),
    [
        ("daily:7", Retention(7)),
        ("daily:7 weekly:4 monthly:3", Retention(7, 4, 3)),
        ("monthly:3 daily:1", Retention(1, 0, 3)),
        ("daily:3 weekly:0", Retention(3)),
        ("daily:09", Retention(9)),
        (f"daily:{MOST_KEPT}", Retention(MOST_KEPT)),
    ],
)
def test_the_grammar_reads_tiers_in_any_order(text: str, retention: Retention) -> None:
    assert parse_retention(text) == retention


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("daily:3,weekly:2", "not tier:count"),
        ("daily:3  weekly:2", "not tier:count"),
        (" daily:3", "not tier:count"),
        ("daily:3 ", "not tier:count"),
        ("daily: 3", "not tier:count"),
        ("Daily:3", "not tier:count"),
        ("daily:-1", "not tier:count"),
        ("daily:100", "not tier:count"),
        ("daily:٣", "not tier:count"),
        ("daily=3", "not tier:count"),
        ("", "not tier:count"),
        ("yearly:1 daily:3", "'yearly' is not a tier"),
        ("daily:3 daily:4", "daily is given twice"),
        ("weekly:4 monthly:3", "daily is required"),
        ("daily:0 weekly:3", "daily must be at least 1"),
        ("daily:30 weekly:20", "ask for 50 backups"),
    ],
)
def test_anything_else_is_refused_saying_why(text: str, why: str) -> None:
    with pytest.raises(RetentionError, match=why):
        parse_retention(text)


def test_a_retention_writes_itself_in_the_grammar_leaving_out_empty_tiers() -> None:
    assert str(Retention(7, 4, 3)) == "daily:7 weekly:4 monthly:3"
    assert str(Retention(2, 0, 1)) == "daily:2 monthly:1"
    assert parse_retention(str(Retention(5, 0, 2))) == Retention(5, 0, 2)
    assert Retention.of_retain(4) == Retention(daily=4)
    with pytest.raises(RetentionError, match="negative"):
        Retention(3, -1)


def test_a_monthly_holds_every_tier_and_a_daily_only_its_own() -> None:
    assert [M.holds(t) for t in (D, W, M)] == [True, True, True]
    assert [W.holds(t) for t in (D, W, M)] == [True, True, False]
    assert [D.holds(t) for t in (D, W, M)] == [True, False, False]


def at(day: int, month: int = 3, hour: int = 2) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_the_first_backup_of_a_month_is_monthly_then_of_a_week_weekly_then_daily() -> None:
    # 2026-03-02 is a Monday; 2026-03-01 a Sunday.
    assert tier_for(at(1), UTC_ZONE, []) is M
    assert tier_for(at(2), UTC_ZONE, [at(1)]) is W
    assert tier_for(at(3), UTC_ZONE, [at(1), at(2)]) is D
    # Any backup of the week holds it (its first one was the weekly or the monthly).
    assert tier_for(at(3), UTC_ZONE, [at(2)]) is D
    # Deleted since: the month's later backups still hold it.
    assert tier_for(at(16), UTC_ZONE, [at(13)]) is W
    assert tier_for(at(17), UTC_ZONE, [at(13), at(16)]) is D
    # A backup of another month does not hold this month.
    assert tier_for(at(1, 4), UTC_ZONE, [at(31)]) is M


def test_a_manual_run_makes_daily_backups() -> None:
    assert tier_for(None, UTC_ZONE, []) is D


def test_the_local_date_decides_not_the_utc_one() -> None:
    auckland = ZoneInfo("Pacific/Auckland")
    # 2026-03-31T12:00Z is 2026-04-01 01:00 in Auckland: the first slot of April there.
    slot = datetime(2026, 3, 31, 12, tzinfo=UTC)
    march = datetime(2026, 3, 1, 12, tzinfo=UTC)  # 2 March local

    assert tier_for(slot, auckland, [march]) is M
    assert tier_for(slot, UTC_ZONE, [march]) is not M


def test_keep_order_puts_the_highest_tier_first_then_the_newest() -> None:
    # Newest first: a daily, a weekly, a daily, a monthly, a daily; the new backup is daily.
    backups = [("d1", D), ("w1", W), ("d2", D), ("m1", M), ("d3", D)]

    assert keep_order(D, backups, Retention(3, 1, 1)) == ["m1", "w1", "d1"]
    assert keep_order(D, backups, Retention(2)) == ["d1"]
    assert keep_order(D, backups, Retention(6)) == ["d1", "w1", "d2", "m1", "d3"]
    # The new monthly takes the one monthly place: the old monthly is wanted as a daily only.
    assert keep_order(M, backups, Retention(5, 0, 1)) == ["d1", "w1", "d2", "m1"]
    # Two weeklies: the new one is daily, so w1 and m1 are the newest two holding weekly.
    assert keep_order(D, backups, Retention(1, 2, 0)) == ["w1", "m1"]


def test_granted_counts_the_places_of_each_tier_that_are_kept() -> None:
    backups = [("d1", D), ("w1", W), ("d2", D), ("m1", M), ("d3", D)]

    # Everything kept: each tier fills what it can.
    assert granted(D, backups, ["d1", "w1", "d2", "m1", "d3"], Retention(7, 4, 3)) == Retention(
        6, 2, 1
    )
    # The dailies trimmed: daily:4 asks for new, d1, w1, d2; d2 is gone.
    assert granted(D, backups, ["d1", "w1", "m1"], Retention(4, 2, 1)) == Retention(3, 2, 1)
    # Only the new one: one daily, and the weekly and monthly of a new monthly.
    assert granted(M, backups, [], Retention(7, 4, 3)) == Retention(1, 1, 1)
    assert granted(D, [], [], Retention(2)) == Retention(1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "daily:3,weekly:2",
            "'daily:3,weekly:2' is not tier:count (tiers daily, weekly, monthly, separated by one "
            "space, counts written with the digits 0-9)",
        ),
        ("weekly:2", "daily is required, for example 'daily:7 weekly:4'"),
        ("daily:0", "daily must be at least 1: the newest backup is always one of them"),
        (
            "daily:40 weekly:10",
            "the tiers ask for 50 backups in all; at most 49 fit under the account's "
            "manual-backup limit with the new one",
        ),
    ],
)
def test_the_errors_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(RetentionError) as raised:
        parse_retention(text)

    assert str(raised.value) == message


def test_a_negative_count_is_refused_in_words() -> None:
    with pytest.raises(RetentionError) as raised:
        Retention(3, 0, -1)

    assert str(raised.value) == "a tier's count cannot be negative"


def test_the_holders_of_a_period_are_the_newest_backups_in_it() -> None:
    # 2026-03-09 and 2026-03-10 are in the same ISO week; 2026-03-02 is an earlier week.
    held = [("first", at(2)), ("newest", at(10)), ("monday", at(9))]

    assert period_holders(at(11), UTC_ZONE, held) == ("newest", "newest")
    assert period_holders(at(11), UTC_ZONE, list(reversed(held))) == ("newest", "newest")
    assert period_holders(at(16), UTC_ZONE, held) == ("newest", None)
    assert period_holders(at(1, 4), UTC_ZONE, held) == (None, None)
