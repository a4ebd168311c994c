"""The handler under the account's manual-backup limit: retention handed to the tracker, room
made before a backup is created, and deletions the service still counts waited for."""

from __future__ import annotations

from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run.start import TIMEOUT_MARGIN_MS
from local.emulator import Emulator, ManualClock
from local.emulator.faults import PollTime
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import Cloud, mutating_calls, tag
from tests.support.invoking import SCHEDULED, results


def test_retention_is_deferred_to_the_tracker(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **{"opsworks-cm-backup:retain": "2"})
    old = [add_own_backup(emulator, "chef-prod", d) for d in (1, 2, 3)]

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    result = results(report)["chef-prod"]
    assert result["deleted"] == []
    assert [d["backupId"] for d in result["deferredDeletes"]] == old[1:]
    # The retain tag is the daily tier alone; the slot (Monday 5 January) is the first of its
    # week, and the backups of 2-4 January hold the month: a weekly.
    assert result["retain"] == {
        "asked": 2,
        "granted": 2,
        "tiersAsked": "daily:2",
        "tiersGranted": "daily:2",
        "tier": "weekly",
    }
    assert mutating_calls(emulator) == ["CreateBackup"]
    assert cloud.tracker_inputs()[0]["backups"][0]["deferredDeletes"] == old[1:]


def test_makes_room_under_the_limit_before_creating(emulator: Emulator, cloud: Cloud) -> None:
    emulator.config.manual_backup_limit = 3
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod")
    old = [add_own_backup(emulator, "chef-prod", d) for d in (1, 2, 3)]

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    result = results(report)["chef-prod"]
    assert result["outcome"] == "STARTED"
    assert [d["backupId"] for d in result["deleted"]] == [old[2]]
    assert "make room" in result["deleted"][0]["reason"]
    assert mutating_calls(emulator) == ["DeleteBackup", "CreateBackup"]


def test_deletions_the_service_still_counts_are_waited_for(
    emulator: Emulator, clock: ManualClock, cloud: Cloud
) -> None:
    # Given a full account on a service that counts a backup being deleted toward the limit
    # until it is gone (30 s), where each look at the quota takes the function 30 s
    emulator.config.manual_backup_limit = 2
    emulator.config.deleting_counts_toward_limit = True
    emulator.config.delete_seconds = 30
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    old = [add_own_backup(emulator, "chef-a", d) for d in (1, 2)]
    emulator.faults.append(PollTime(emulator, clock, 30, on="quota"))

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the refused CreateBackup waited for the deletion and was made again: refused right
    # after the deletion, once more as the run turned to waiting (room may have come meanwhile),
    # then made once the deletion had ended
    result = results(report)["chef-a"]
    assert result["outcome"] == "STARTED"
    assert [d["backupId"] for d in result["deleted"]] == [old[1]]
    assert (result["retain"]["asked"], result["retain"]["granted"]) == (7, 2)
    assert result["retain"]["tiersGranted"] == "daily:2"
    assert old[0] in emulator.backend.backups
    creates = emulator.calls_to("CreateBackup")
    assert [c.error for c in creates] == ["LimitExceededException"] * 2 + [None]
    assert report["quota"]["usedAfterRun"] == emulator.backend.manual_backups_used() == 2


def test_limit_still_full_after_waiting_fails_that_server(emulator: Emulator, cloud: Cloud) -> None:
    # Given a full account whose deletions stay counted longer than the run can wait
    emulator.config.manual_backup_limit = 2
    emulator.config.deleting_counts_toward_limit = True
    emulator.config.delete_seconds = 10**6
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    old = [add_own_backup(emulator, "chef-a", d) for d in (1, 2)]

    # When the schedule fires with 2.5 s to spare beyond the function's safety margin
    report = lambda_handler(SCHEDULED, FakeLambdaContext(remaining_ms=TIMEOUT_MARGIN_MS + 2_500))

    # Then the server failed, saying why (a run of the slot that cannot try it again later:
    # here no retry schedule), and kept its newest backup
    result = results(report)["chef-a"]
    assert result["outcome"] == "FAILED"
    assert "still full" in result["reason"]
    assert "after waiting 2 s" in result["reason"]
    assert [d["backupId"] for d in result["deleted"]] == [old[1]]
    assert result["deferredDeletes"] == []
    assert old[0] in emulator.backend.backups
    # One look at the quota while waiting (1 s), none that found room, so no attempt after the
    # one right after the deletion and the one as the run turned to waiting.
    assert len(emulator.calls_to("CreateBackup")) == 2
    assert len(emulator.calls_to("DescribeAccountAttributes")) == 1 + 1 + 1
