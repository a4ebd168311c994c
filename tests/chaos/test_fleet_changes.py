"""The fleet changes under a run: a server changes state or vanishes between reads and writes."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from local.emulator.backend import Backend
from local.emulator.faults import BeforeCall, account_change, for_server
from tests.chaos.conftest import SCHEDULED, build_fleet, outcomes, results
from tests.chaos.invariants import Run, capture, check_invariants
from tests.conftest import FakeLambdaContext
from tests.support.fleet import Cloud


def another_backup_starts(backend: Backend) -> None:
    """Someone else starts a backup of chef-01 (an operator with the CLI, say)."""
    backend.op_create_backup(
        {"ServerName": "chef-01", "Description": "by hand"}, "arn:aws:iam::123456789012:user/ops"
    )


def goes(status: str) -> Callable[[Backend], None]:
    def change(backend: Backend) -> None:
        backend.set_server_status("chef-01", status, "changed by the chaos suite")

    return change


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (goes("UNDER_MAINTENANCE"), "UNDER_MAINTENANCE"),
        (goes("MODIFYING"), "MODIFYING"),
        (goes("CONNECTION_LOST"), "CONNECTION_LOST"),
        (another_backup_starts, "BACKING_UP"),
    ],
    ids=["maintenance", "modifying", "connection-lost", "someone-else-backs-up"],
)
def test_server_changing_state_before_its_backup_fails_alone_and_the_rest_go_on(
    emulator: Emulator, cloud: Cloud, change: Callable[[Backend], None], why: str
) -> None:
    # Given four servers with retention to apply, and chef-01 changing state right before the
    # run's CreateBackup reaches it
    names = build_fleet(emulator, random.Random(11), 4)
    for name in names:
        emulator.backend.servers[name].tags["opsworks-cm-backup:retain"] = "1"
    emulator.faults.append(
        BeforeCall(
            "CreateBackup",
            account_change(emulator, change),
            when=for_server(emulator, "chef-01"),
        )
    )
    before = capture(emulator)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then chef-01 failed, saying why, hands nothing to the tracker, and the others started
    after = capture(emulator)
    assert outcomes(report) == {
        "chef-00": "STARTED",
        "chef-01": "FAILED",
        "chef-02": "STARTED",
        "chef-03": "STARTED",
    }
    failed = results(report)["chef-01"]
    assert "changed state" in failed["reason"]
    assert why in failed["reason"]
    assert failed["deferredDeletes"] == []
    [tracker_input] = cloud.tracker_inputs()
    assert {b["serverName"] for b in tracker_input["backups"]} == {"chef-00", "chef-02", "chef-03"}
    assert all(b["deferredDeletes"] for b in tracker_input["backups"])
    check_invariants(before, after, [Run(SCHEDULED, report)])


@pytest.mark.parametrize(
    ("event", "vanishes_before"),
    [
        (SCHEDULED, "CreateBackup"),
        (SCHEDULED, "ListTagsForResource"),
        ({"servers": ["chef-00", "chef-01", "chef-02"]}, "CreateBackup"),
        ({"servers": ["chef-00", "chef-01", "chef-02"]}, "ListTagsForResource"),
    ],
    ids=["scheduled-create", "scheduled-tags", "manual-create", "manual-tags"],
)
def test_server_deleted_mid_run_is_skipped_and_its_backups_are_kept(
    emulator: Emulator, cloud: Cloud, event: dict[str, object], vanishes_before: str
) -> None:
    # Given three servers, one of them in an account full enough that room must be made, and
    # chef-01 deleted (by someone else) right before the run's call about it
    build_fleet(emulator, random.Random(12), 3, tight=1)
    emulator.faults.append(
        BeforeCall(
            vanishes_before,
            account_change(emulator, lambda backend: backend.remove_server("chef-01")),
            when=for_server(emulator, "chef-01"),
        )
    )
    kept = {
        b.backup_id
        for b in emulator.backend.backups.values()
        if b.server_name == "chef-01" and b.backup_type == "MANUAL"
    }
    before = capture(emulator)

    # When the run happens
    report = lambda_handler(event, FakeLambdaContext())

    # Then the others started; chef-01 is skipped as gone (a scheduled run that could not read
    # its tags no longer counts it as selected), and its manual backups stay
    after = capture(emulator)
    started = dict.fromkeys(("chef-00", "chef-02"), "STARTED")
    if event is SCHEDULED and vanishes_before == "ListTagsForResource":
        assert outcomes(report) == started
    else:
        assert outcomes(report) == {**started, "chef-01": "SKIPPED"}
        assert "no longer exists" in results(report)["chef-01"]["reason"]
    assert "chef-01" not in {b["serverName"] for b in cloud.tracker_inputs()[0]["backups"]}
    # Only what the run deleted to make room, before chef-01 vanished, is gone; nothing later.
    gone = {b for b in kept if b not in after.backups or after.backups[b].status == "DELETING"}
    made_room = {d["backupId"] for d in results(report).get("chef-01", {}).get("deleted", [])}
    assert gone == made_room
    assert len(made_room) == (1 if vanishes_before == "CreateBackup" else 0)
    check_invariants(before, after, [Run(event, report)])
