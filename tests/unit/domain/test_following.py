"""What one poll of the tracker decides about each followed backup (following.py), from the
account's answer and the service's clock: no deletion is due before OK, every other end keeps
the old backups, and each end has one line a person can act on."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from backup_orchestrator.domain.following import (
    NO_REASON,
    OUT_OF_POLLS,
    REASON_BYTES,
    Followed,
    alert,
    cut,
    elapsed,
    judge,
    needs_attention,
    settle,
    still_running,
)
from backup_orchestrator.domain.records import Backup
from tests.support.planning import backup

DEADLINE = 3600


def followed(*deferred: str) -> Followed:
    return Followed("chef-a", NEW.backup_id, list(deferred))


NEW = backup("chef-a", 0, status="IN_PROGRESS")


def listing(status: str, *, said: str = "") -> dict[str, Backup]:
    seen = replace(NEW, status=status, status_description=said)
    return {seen.backup_id: seen}


def test_a_backup_still_in_progress_before_its_deadline_is_followed_on() -> None:
    item = followed("old-1")

    assert judge(item, listing("IN_PROGRESS"), 300, DEADLINE) is None
    assert item.ok_after is None and item.deferred == ["old-1"]


def test_ok_marks_the_deletions_due_and_ends_only_once_they_are_tried() -> None:
    item = followed("old-1", "old-2")

    assert judge(item, listing("OK"), 420, DEADLINE) is None

    assert item.ok_after == 420
    # The deletions are still to try: the backup has not ended.
    assert settle(item, last_poll=False) is None
    item.deferred = []
    result = settle(item, last_poll=False)
    assert result is not None
    assert (result.outcome, result.seconds, result.retention_problem) == ("OK", 420, False)
    assert result.line == f"chef-a: backup {NEW.backup_id} is OK."


def test_a_refused_deletion_is_a_retention_problem_with_the_first_refusal_named() -> None:
    item = followed()
    judge(item, listing("OK"), 300, DEADLINE)
    item.refuse("old-1", "ValidationException: locked")
    item.refuse("old-2", "ValidationException: locked too")

    result = settle(item, last_poll=False)

    assert result is not None and result.outcome == "OK" and result.retention_problem
    assert "2 of the old backups it replaces could not be deleted, first old-1 (Validation" in (
        result.line
    )


def test_deletions_left_at_the_last_poll_are_kept_and_reported() -> None:
    item = followed("old-1", "old-2")
    judge(item, listing("OK"), 300, DEADLINE)

    result = settle(item, last_poll=True)

    assert result is not None and result.retention_problem
    assert f"first old-1 ({OUT_OF_POLLS})" in result.line
    assert item.deferred == []


@pytest.mark.parametrize("status", ["FAILED", "DELETING", "SOMETHING_NEW"])
def test_any_other_status_is_a_failure_with_the_service_s_words(status: str) -> None:
    item = followed("old-1")

    result = judge(item, listing(status, said="disk full"), 300, DEADLINE)

    assert result is not None and result.outcome == "FAILED"
    assert f'ended {status} (OpsWorks CM: "disk full"). Its old backups were kept.' in result.line
    assert item.ok_after is None  # its deletions are never due


def test_a_failure_without_words_says_so_and_long_words_are_cut() -> None:
    quiet = judge(followed(), listing("FAILED"), 300, DEADLINE)
    loud = judge(followed(), listing("FAILED", said="x" * 1000), 300, DEADLINE)

    assert quiet is not None and f'"{NO_REASON}"' in quiet.line
    # 250 bytes of JSON: the quotes, 245 characters, "...".
    assert loud is not None and '"' + "x" * (REASON_BYTES - 5) + '...")' in loud.line
    assert "x" * (REASON_BYTES - 4) not in loud.line


@pytest.mark.parametrize("words", ["x" * 1000, "é" * 1000, "\u2603" * 500, "ok", ""])
def test_the_service_s_words_never_take_more_than_their_share_of_the_state(words: str) -> None:
    kept = cut(words)

    assert len(json.dumps(kept)) <= REASON_BYTES
    assert kept == words or (kept.endswith("...") and words.startswith(kept[:-3]))


def test_a_backup_the_account_no_longer_lists_vanished() -> None:
    result = judge(followed("old-1"), {}, 300, DEADLINE)

    assert result is not None and result.outcome == "VANISHED"
    assert "no longer exists" in result.line


@pytest.mark.parametrize(("seconds", "ended"), [(3599, False), (3600, True), (3660, True)])
def test_the_deadline_is_the_tracker_s_clock(seconds: int, ended: bool) -> None:
    result = judge(followed(), listing("IN_PROGRESS"), seconds, DEADLINE)

    assert (result is not None) is ended
    if result is not None:
        assert result.outcome == "TIMED_OUT"
        assert f"still IN_PROGRESS after {seconds} seconds, its deadline" in result.line


def test_the_tracker_s_clock_is_the_first_wait_then_a_poll_interval_a_poll() -> None:
    assert [elapsed(17, 60, polls) for polls in (1, 2, 3)] == [17, 77, 137]


def test_a_backup_still_running_at_the_last_poll_missed_its_deadline() -> None:
    result = still_running(followed(), 1800)

    assert result.outcome == "TIMED_OUT" and "after 1800 seconds" in result.line


def test_the_state_round_trips_as_json() -> None:
    item = followed("old-1")
    item.ok_after = 60
    item.refuse("old-0", "AccessDeniedException: no")

    again = Followed.from_json(item.to_json())

    assert again == item
    assert "okAfterSeconds" not in followed().to_json()


def test_attention_and_the_alert() -> None:
    ok = {"ok": True, "retentionProblem": False}
    kept = {"ok": True, "retentionProblem": True}
    failed = {"ok": False, "retentionProblem": False}

    assert needs_attention([ok, ok]) == (False, False)
    assert needs_attention([ok, kept]) == (False, True)
    assert needs_attention([failed, ok]) == (True, False)
    message = alert("run-1", "\nline one\nline two", "arn:exec")
    assert message["subject"] == "OpsWorks CM backup needs attention"
    assert message["message"].startswith(
        "OpsWorks CM backup run run-1 needs attention.\n\nline one"
    )
    assert message["message"].endswith("Tracker execution: arn:exec")
