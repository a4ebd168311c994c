"""A server's retention: the run's, else its retention tag, else its retain tag, else the
stack's; a tag outside its grammar fails the server alone, saying why."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from backup_orchestrator.domain import marker, retention
from backup_orchestrator.domain.records import RETAIN_TAG, Backup, Proof, PruneScope
from backup_orchestrator.domain.retention import RETENTION_TAG
from backup_orchestrator.domain.tiers import Retention, Tier
from tests.support.planning import NOW, backup, server

DEFAULT = Retention(7)


@pytest.mark.parametrize(
    ("tags", "override", "expected"),
    [
        ({}, None, DEFAULT),
        ({RETAIN_TAG: "3"}, None, Retention(3)),
        ({RETENTION_TAG: "daily:2 weekly:1"}, None, Retention(2, 1)),
        # The retention tag wins over the retain tag, and the run's over both.
        ({RETAIN_TAG: "3", RETENTION_TAG: "daily:2 monthly:1"}, None, Retention(2, 0, 1)),
        ({RETAIN_TAG: "3", RETENTION_TAG: "daily:2"}, Retention(5, 2), Retention(5, 2)),
        # A run's retention wins even over a tag outside its grammar.
        ({RETENTION_TAG: "daily:2,weekly:1"}, Retention(4), Retention(4)),
    ],
)
def test_the_run_then_the_tags_then_the_stack_decide(
    tags: dict[str, str], override: Retention | None, expected: Retention
) -> None:
    assert retention.resolve(server("chef-a", tags=tags), DEFAULT, override) == (expected, None)


@pytest.mark.parametrize(
    ("tags", "said"),
    [
        (
            {RETENTION_TAG: "daily:2,weekly:1"},
            "its tag opsworks-cm-backup:retention='daily:2,weekly:1' is not a retention: "
            "'daily:2,weekly:1' is not tier:count",
        ),
        (
            {RETENTION_TAG: "weekly:1", RETAIN_TAG: "3"},
            "is not a retention: daily is required",
        ),
        ({RETAIN_TAG: "50"}, "its tag opsworks-cm-backup:retain='50' is not a whole number"),
    ],
)
def test_a_tag_outside_its_grammar_says_why(tags: dict[str, str], said: str) -> None:
    found, reason = retention.resolve(server("chef-a", tags=tags), DEFAULT, None)

    assert found is None
    assert reason is not None and said in reason and reason.endswith("fix the tag")


@pytest.mark.parametrize(("value", "kept"), [("1", 1), ("49", 49), ("0", None), ("50", None)])
def test_the_retain_tag_is_a_whole_number_from_1_to_49(value: str, kept: int | None) -> None:
    found, _ = retention.resolve(server("chef-a", tags={RETAIN_TAG: value}), DEFAULT, None)

    assert found == (None if kept is None else Retention(kept))


AUCKLAND = ZoneInfo("Pacific/Auckland")
# 2026-03-31T12:00Z is 1 April 01:00 in Auckland; 2026-03-30T12:00Z is 31 March there.
SLOT = datetime(2026, 3, 31, 12, tzinfo=UTC)


def made(at: datetime, tier: Tier | None = Tier.DAILY, **options: Any) -> Backup:
    run = marker.scheduled_run_id(at)
    days = (NOW - at) / timedelta(days=1)
    return backup("chef-a", days, description=marker.description(run, "nightly", tier), **options)


def test_the_new_tier_reads_the_slots_in_the_schedules_zone() -> None:
    march = made(datetime(2026, 3, 30, 12, tzinfo=UTC))
    april = made(datetime(2026, 3, 31, 11, 30, tzinfo=UTC))  # 1 April 00:30 in Auckland
    run = marker.scheduled_run_id(SLOT)

    # 31 March in Auckland: not April's (of the same week, which a monthly does not ask).
    assert retention.new_tier([march], run, AUCKLAND) == (Tier.MONTHLY, [])
    # A weekly was decided by the month's holder alone.
    week_later = marker.scheduled_run_id(datetime(2026, 4, 5, 13, tzinfo=UTC))  # Monday 6 April
    april_only = made(datetime(2026, 3, 31, 11, 30, tzinfo=UTC))
    assert retention.new_tier([april_only], week_later, AUCKLAND) == (Tier.WEEKLY, [april_only])
    assert retention.new_tier([march], run, ZoneInfo("UTC")) == (Tier.DAILY, [march])
    # April's backup holds the month and the week (Monday 30 March to Sunday 5 April).
    assert retention.new_tier([march, april], run, AUCKLAND) == (Tier.DAILY, [april])
    # A manual run makes a daily and reads no holder.
    assert retention.new_tier([march], "manual-abc", AUCKLAND) == (Tier.DAILY, [])
    assert retention.new_tier([march], None, AUCKLAND) == (Tier.DAILY, [])


@pytest.mark.parametrize(
    ("status", "proof", "tier", "holds"),
    [
        ("OK", Proof.UNCHECKED, Tier.DAILY, True),
        ("IN_PROGRESS", Proof.UNCHECKED, Tier.DAILY, True),
        ("FAILED", Proof.UNCHECKED, Tier.DAILY, False),
        ("DELETING", Proof.UNCHECKED, Tier.DAILY, False),
        ("OK", Proof.PROVEN, Tier.WEEKLY, True),
        ("OK", Proof.UNTAGGED, Tier.MONTHLY, False),
        ("OK", Proof.UNREAD, Tier.MONTHLY, False),
        # Made before tiers existed: holds no period.
        ("OK", Proof.UNCHECKED, None, False),
    ],
)
def test_which_backups_hold_their_period(
    status: str, proof: Proof, tier: Tier | None, holds: bool
) -> None:
    earlier = made(datetime(2026, 3, 31, 11, 30, tzinfo=UTC), tier, status=status)
    earlier = dataclasses.replace(earlier, proof=proof)

    found = retention.new_tier([earlier], marker.scheduled_run_id(SLOT), AUCKLAND)

    assert found == ((Tier.DAILY, [earlier]) if holds else (Tier.MONTHLY, []))


def test_backups_kept_unproven_are_listed_where_ownership_decides() -> None:
    old = dataclasses.replace(
        made(datetime(2026, 3, 1, tzinfo=UTC), None), proof=Proof.UNTAGGED, proof_reason="no tag"
    )
    forged = dataclasses.replace(
        made(datetime(2026, 3, 2, tzinfo=UTC)), proof=Proof.CONTRADICTED, proof_reason="other run"
    )
    proven = dataclasses.replace(made(datetime(2026, 3, 3, tzinfo=UTC)), proof=Proof.PROVEN)
    unchecked = made(datetime(2026, 3, 4, tzinfo=UTC))
    by_hand = dataclasses.replace(
        backup("chef-a", 20, own=False), proof=Proof.CONTRADICTED, proof_reason="not ours"
    )
    mine = [unchecked, forged, by_hand, proven, old]

    assert retention.not_proven(mine, PruneScope.OWN) == [
        retention.Kept(old.backup_id, "no tag", awaiting_adoption=True),
        retention.Kept(forged.backup_id, "other run", awaiting_adoption=False),
    ]
    assert retention.not_proven(mine, PruneScope.ALL_MANUAL) == []
