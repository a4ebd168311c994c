"""The product's marker: one strict grammar; only what the product writes is the product's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backup_orchestrator.domain import marker
from backup_orchestrator.domain.tiers import Tier


@pytest.mark.parametrize(
    ("text", "run"),
    [
        ("[opsworks-cm-backup run=scheduled-20260105T020000Z]", "scheduled-20260105T020000Z"),
        (
            "[opsworks-cm-backup run=scheduled-20260105T020000Z] scheduled backup",
            "scheduled-20260105T020000Z",
        ),
        ("[opsworks-cm-backup run=manual-0f8e11aa] before upgrade", "manual-0f8e11aa"),
        ("[opsworks-cm-backup run=manual-" + "a" * 32 + "]", "manual-" + "a" * 32),
        (
            "[opsworks-cm-backup run=scheduled-20260105T020000Z tier=weekly] scheduled backup",
            "scheduled-20260105T020000Z",
        ),
        ("[opsworks-cm-backup run=manual-0f8e11aa tier=daily]", "manual-0f8e11aa"),
    ],
)
def test_the_products_descriptions_are_recognised(text: str, run: str) -> None:
    assert marker.run_of(text) == run


@pytest.mark.parametrize(
    "text",
    [
        "[opsworks-cm-backup-exempt] golden image before the migration",
        "[opsworks-cm-backup] made by hand",
        "[opsworks-cm-backup run=] x",
        "[opsworks-cm-backup run=seeded] scheduled backup",
        "[opsworks-cm-backup run=scheduled-20261305T020000Z] thirteenth month",
        "[opsworks-cm-backup run=scheduled-20260105T250000Z] hour 25",
        "[opsworks-cm-backup run=scheduled-20260105T020000] no zone",
        "[opsworks-cm-backup run=manual-] no token",
        "[opsworks-cm-backup run=manual-" + "a" * 33 + "]",
        "[opsworks-cm-backup run=manual-0f8e-11aa] a dash in the token",
        "[opsworks-cm-backup run=manual-abc]no space before the text",
        "[opsworks-cm-backup run=manual-abc] ",
        "[opsworks-cm-backup run=manual-abc] two\nlines",
        " [opsworks-cm-backup run=manual-abc] leading space",
        "[OPSWORKS-CM-BACKUP run=manual-abc]",
        "[opsworks-cm-backup run=manual-ab٣]",
        "nightly [opsworks-cm-backup run=manual-abc]",
        "[opsworks-cm-backup run=manual-abc tier=yearly]",
        "[opsworks-cm-backup run=manual-abc tier=]",
        "[opsworks-cm-backup run=manual-abc tier=Daily]",
        "[opsworks-cm-backup run=manual-abc  tier=daily]",
        "[opsworks-cm-backup run=manual-abc tier=daily tier=weekly]",
        "[opsworks-cm-backup tier=daily run=manual-abc]",
        "",
    ],
)
def test_lookalikes_are_somebody_elses(text: str) -> None:
    assert marker.run_of(text) is None


def test_scheduled_run_id_is_the_slot_in_utc() -> None:
    slot = datetime(2026, 1, 5, 3, 0, tzinfo=timezone(timedelta(hours=1)))

    assert marker.scheduled_run_id(slot) == "scheduled-20260105T020000Z"


@pytest.mark.parametrize(
    "slot",
    [
        datetime(2026, 1, 5),
        datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
    ],
    ids=["naive", "before-year-1-in-utc"],
)
def test_slots_that_have_no_run_id_are_refused(slot: datetime) -> None:
    with pytest.raises(marker.MarkerError):
        marker.scheduled_run_id(slot)


def test_manual_run_id_keeps_letters_and_digits_of_the_request_id() -> None:
    assert marker.manual_run_id("7c9e6679-7425-40de-944b-e07fc1f90ae7") == (
        "manual-7c9e6679742540de944be07fc1f90ae7"
    )
    with pytest.raises(marker.MarkerError):
        marker.manual_run_id("--")


def test_a_run_id_outside_the_grammar_is_never_written() -> None:
    with pytest.raises(marker.MarkerError):
        marker.description("seeded", "scheduled backup")


@given(
    slot=st.datetimes(
        min_value=datetime(2016, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ),
    text=st.one_of(st.none(), st.text(min_size=1, max_size=60).filter(str.isprintable)),
)
def test_what_the_product_writes_it_reads_back(slot: datetime, text: str | None) -> None:
    run_id = marker.scheduled_run_id(slot)

    assert marker.run_of(marker.description(run_id, text)) == run_id


@pytest.mark.parametrize(
    ("text", "tier", "tiered"),
    [
        ("[opsworks-cm-backup run=manual-abc tier=monthly] x", Tier.MONTHLY, True),
        ("[opsworks-cm-backup run=manual-abc tier=weekly]", Tier.WEEKLY, True),
        ("[opsworks-cm-backup run=manual-abc tier=daily]", Tier.DAILY, True),
        # Written before tiers existed: read as daily, and known to have no tier.
        ("[opsworks-cm-backup run=manual-abc] before tiers", Tier.DAILY, False),
    ],
)
def test_the_marker_says_the_backups_tier(text: str, tier: Tier, tiered: bool) -> None:
    assert marker.parse(text) == marker.Mark("manual-abc", tier, tiered)


def test_a_scheduled_run_id_holds_its_slot_and_a_manual_one_none() -> None:
    assert marker.slot_of("scheduled-20260105T020000Z") == datetime(2026, 1, 5, 2, tzinfo=UTC)
    assert marker.slot_of("manual-abc") is None
    assert marker.slot_of("scheduled-20261305T020000Z") is None


@given(
    slot=st.datetimes(
        min_value=datetime(2016, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ),
    tier=st.sampled_from(list(Tier)),
    text=st.one_of(st.none(), st.text(min_size=1, max_size=60).filter(str.isprintable)),
)
def test_the_tier_written_is_read_back(slot: datetime, tier: Tier, text: str | None) -> None:
    run_id = marker.scheduled_run_id(slot)

    assert marker.parse(marker.description(run_id, text, tier)) == marker.Mark(run_id, tier, True)
    assert marker.slot_of(run_id) == slot.replace(microsecond=0)
