"""Ownership proven twice: the marker and the backup's own run tag must name the same run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backup_orchestrator.domain import marker, ownership
from backup_orchestrator.domain.records import Backup, Proof
from backup_orchestrator.domain.tiers import Tier
from tests.support.planning import NOW, backup

RUN = marker.scheduled_run_id(NOW - timedelta(days=1))


def test_a_backup_the_product_makes_carries_its_run_and_tier() -> None:
    assert ownership.creation_tags(RUN, Tier.WEEKLY) == {
        "opsworks-cm-backup:run": RUN,
        "opsworks-cm-backup:tier": "weekly",
    }


def test_the_run_tag_naming_the_markers_run_proves_it() -> None:
    made = backup("chef-a", 1, run_id=RUN)

    judged = ownership.proven(made, {ownership.RUN_TAG: RUN, "team": "ops"})

    assert (judged.proof, judged.proof_reason) == (Proof.PROVEN, "")
    assert not judged.proof.refused


@pytest.mark.parametrize(
    ("tags", "proof", "said"),
    [
        ({}, Proof.UNTAGGED, "no opsworks-cm-backup:run tag"),
        ({"team": "ops"}, Proof.UNTAGGED, "owcm-backup adopt"),
        ({ownership.RUN_TAG: "manual-abc"}, Proof.CONTRADICTED, "names 'manual-abc'"),
        ({ownership.RUN_TAG: RUN + " "}, Proof.CONTRADICTED, "never deleted"),
    ],
)
def test_anything_else_is_refused_saying_why(tags: dict[str, str], proof: Proof, said: str) -> None:
    judged = ownership.proven(backup("chef-a", 1, run_id=RUN), tags)

    assert judged.proof is proof and judged.proof.refused
    assert said in judged.proof_reason


def test_a_backup_without_the_marker_is_never_proven_by_a_tag() -> None:
    judged = ownership.proven(backup("chef-a", 1, own=False), {ownership.RUN_TAG: RUN})

    assert judged.proof is Proof.CONTRADICTED
    assert judged.proof_reason == "it does not carry this product's marker"


def test_the_reasons_are_whole_sentences() -> None:
    made = backup("chef-a", 1, run_id=RUN)

    assert ownership.proven(made, {}).proof_reason == (
        f"it carries this product's marker (run {RUN}) but no opsworks-cm-backup:run tag: made "
        "before the product tagged its backups (`owcm-backup adopt` tags those it can prove), "
        "or a marker typed by hand; it is never deleted"
    )
    # Proven once its tags are read again, the earlier reason goes.
    unread = ownership.unread(made, "ThrottlingException")
    assert ownership.proven(unread, {ownership.RUN_TAG: RUN}).proof_reason == ""


def test_unreadable_tags_keep_the_backup_this_run() -> None:
    judged = ownership.unread(backup("chef-a", 1, run_id=RUN), "AccessDeniedException")

    assert judged.proof is Proof.UNREAD and judged.proof.refused
    assert "AccessDeniedException" in judged.proof_reason


def test_only_a_marker_without_a_tier_and_no_run_tag_awaits_adoption() -> None:
    old = backup("chef-a", 1, description=marker.description(RUN, "nightly"))
    tiered = backup("chef-a", 1, description=marker.description(RUN, "nightly", Tier.DAILY))

    assert ownership.awaiting_adoption(ownership.proven(old, {}))
    assert not ownership.awaiting_adoption(ownership.proven(tiered, {}))
    assert not ownership.awaiting_adoption(ownership.proven(old, {ownership.RUN_TAG: "x"}))
    assert not ownership.awaiting_adoption(old)  # its tags were not read


def test_adoption_needs_a_scheduled_marker_made_within_the_window_after_its_slot() -> None:
    slot = NOW - timedelta(days=3)
    run = marker.scheduled_run_id(slot)

    def made(after: timedelta, text_run: str = run) -> Backup:
        return backup(
            "chef-a",
            (NOW - slot - after) / timedelta(days=1),
            description=marker.description(text_run, "nightly"),
        )

    assert ownership.adoptable(made(timedelta(0)), {}) is None
    assert ownership.adoptable(made(ownership.ADOPTION_WINDOW), {}) is None
    late = ownership.adoptable(made(ownership.ADOPTION_WINDOW + timedelta(minutes=1)), {})
    early = ownership.adoptable(made(-timedelta(minutes=1)), {})
    assert late is not None and "typed by hand" in late
    assert early is not None and "not within 36 hours after its run's slot" in early
    manual = ownership.adoptable(made(timedelta(0), "manual-abc"), {})
    assert manual == (
        "a manual run's marker holds no time to check its creation against; delete it by hand "
        "once it is not needed"
    )
    tagged = ownership.adoptable(made(timedelta(0)), {ownership.RUN_TAG: run})
    assert tagged is not None and "already has the tag" in tagged
    assert ownership.adoptable(backup("chef-a", 1, own=False), {}) == (
        "it does not carry this product's marker"
    )
