"""The run at its edges: a limit somebody else filled, deletions refused or already done, the
quota that cannot be read again; each says what happened. (A tracker that cannot start is in
test_handover.py.)"""

from __future__ import annotations

from typing import Any

from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run.start import TIMEOUT_MARGIN_MS
from local.emulator import Emulator, ManualClock
from local.emulator.errors import InternalFailure, ServiceError, ValidationException
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import Cloud, run_with_quick_retries, tag
from tests.support.invoking import results

SCHEDULED = {"source": "schedule", "scheduledTime": "2026-01-05T12:00:00Z"}


def only(report: dict[str, Any]) -> dict[str, Any]:
    results: list[dict[str, Any]] = report["results"]
    [result] = results
    return result


def test_a_limit_somebody_else_filled_fails_at_once_without_waiting(
    emulator: Emulator, clock: ManualClock, cloud: Cloud
) -> None:
    # One free slot at planning; somebody takes it before the run's CreateBackup arrives.
    emulator.config.manual_backup_limit = 1
    emulator.backend.add_server("chef-a")
    emulator.backend.add_server("chef-other")
    tag(emulator, "chef-a")

    def somebody_else(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup" and params["ServerName"] == "chef-a":
            emulator.backend.add_backup("chef-other", clock.now())
        return None

    emulator.faults.append(somebody_else)

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    result = only(report)
    assert result["outcome"] == "FAILED"
    assert result["reason"] == (
        "not backed up: the account's manual-backup limit was still full (The maximum number "
        "of manual backups (1) has been reached. Delete a manual backup and try again.)"
    )
    # No deletion of the run's is under way: nothing to wait for, so no look at the quota but
    # the run's first (and, as it changed nothing, no second to report it).
    assert len(emulator.calls_to("DescribeAccountAttributes")) == 1


def test_a_manual_backup_without_a_note_says_it_was_made_by_hand(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-a")

    report = lambda_handler({"servers": ["chef-a"]}, FakeLambdaContext())

    made = emulator.backend.backups[only(report)["backupId"]]
    assert made.description == (
        f"[opsworks-cm-backup run={report['runId']} tier=daily] manual backup"
    )


def test_deletions_somebody_else_did_or_the_service_refused_are_warnings(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Keeping one backup in a full account: two older ones must go now to make room.
    emulator.config.manual_backup_limit = 3
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a", **{"opsworks-cm-backup:retain": "1"})
    newest, middle, oldest = (add_own_backup(emulator, "chef-a", d) for d in (1, 2, 3))
    emulator.config.manual_backup_limit = 2
    refused = ValidationException("This backup cannot be deleted now.")

    def others(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DeleteBackup" and params["BackupId"] == oldest:
            emulator.backend.op_delete_backup(params, "someone")  # already being deleted
        if operation == "DeleteBackup" and params["BackupId"] == middle:
            return refused
        return None

    emulator.faults.append(others)

    report = run_with_quick_retries(SCHEDULED)

    result = only(report)
    assert sorted(result["warnings"]) == sorted(
        [
            f"{oldest} was already gone or being deleted",
            f"could not delete {middle}: An error occurred (ValidationException) when calling "
            "the DeleteBackup operation (reached max retries: 0): This backup cannot be deleted "
            "now.",
        ]
    )
    assert result["deleted"] == []
    assert emulator.backend.backups[newest].status == "OK"


def quota_read_once() -> Any:
    """A fault: the quota (DescribeAccountAttributes) can be read once, never again."""
    reads = 0

    def second_read_fails(operation: str, params: dict[str, Any]) -> ServiceError | None:
        nonlocal reads
        if operation == "DescribeAccountAttributes":
            reads += 1
            if reads > 1:
                return InternalFailure("injected")
        return None

    return second_read_fails


def test_the_quota_after_the_run_is_the_runs_own_count_when_it_cannot_be_read(
    emulator: Emulator, cloud: Cloud
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    emulator.faults.append(quota_read_once())

    report = run_with_quick_retries(SCHEDULED)

    assert only(report)["outcome"] == "STARTED"
    assert report["quota"]["usedAfterRun"] == 1


def test_the_runs_own_count_takes_off_what_it_deleted(emulator: Emulator, cloud: Cloud) -> None:
    # A full account: one backup deleted now to make room, one started; the quota cannot be
    # read again after the run.
    emulator.config.manual_backup_limit = 2
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    for days in (1, 2):
        add_own_backup(emulator, "chef-a", days)
    emulator.faults.append(quota_read_once())

    report = run_with_quick_retries(SCHEDULED)

    assert only(report)["outcome"] == "STARTED"
    assert len(only(report)["deleted"]) == 1
    assert report["quota"]["usedAfterRun"] == 2 - 1 + 1


def test_a_server_gone_before_its_backup_needs_nothing(emulator: Emulator, cloud: Cloud) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")

    def vanish(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup":
            emulator.backend.remove_server("chef-a")
        return None

    emulator.faults.append(vanish)

    result = only(lambda_handler(SCHEDULED, FakeLambdaContext()))

    assert (result["outcome"], result["reason"]) == ("SKIPPED", "the server no longer exists")


def test_servers_waiting_for_room_wait_together_not_one_worker_each(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given six servers (more than the run starts side by side) in a full account, each of which
    # must lose its older backup first, on a service that counts a backup being deleted until
    # its deletion ends, long after the run
    emulator.config.deleting_counts_toward_limit = True
    emulator.config.delete_seconds = 10**6
    names = [f"chef-{i}" for i in range(6)]
    older = {}
    for name in names:
        emulator.backend.add_server(name)
        tag(emulator, name)
        add_own_backup(emulator, name, 1)
        older[name] = add_own_backup(emulator, name, 2)
    emulator.config.manual_backup_limit = emulator.backend.manual_backups_used()

    # When the schedule fires with 1.5 s to wait beyond the function's safety margin
    report = lambda_handler(SCHEDULED, FakeLambdaContext(remaining_ms=TIMEOUT_MARGIN_MS + 1_500))

    # Then every server made its room and was refused, and the run then waited once for them
    # all (one look at the quota), not once per server: none was left out for lack of time.
    # (Without a retry schedule, the slot is not tried again: they fail, saying why.)
    for name, result in results(report).items():
        assert result["outcome"] == "FAILED"
        assert "limit was still full" in result["reason"]
        assert "still counted after waiting" in result["reason"]
        assert [d["backupId"] for d in result["deleted"]] == [older[name]]
    assert len(emulator.calls_to("DescribeAccountAttributes")) == 1 + 1 + 1
    # Each refused once right after its deletion; the first of them once more as the run
    # turned to waiting; the others, once the wait was over with no room, not again.
    assert len(emulator.calls_to("CreateBackup")) == len(names) + 1
