"""The invariant checker itself: a checker that cannot fail would make every chaos case pass."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from local.emulator import Emulator, ManualClock
from local.fleet import add_own_backup
from tests.chaos.conftest import BY_HAND, SELECT_TAG, build_fleet
from tests.chaos.invariants import Run, capture, check_invariants, newest_first

RUN_ID = "scheduled-20260105T020000Z"


# The checker is the same under both readings of the limit; the careless caller needs room.
@pytest.mark.parametrize("emulator", [False], indirect=True, ids=["deleting-frees"])
def test_checker_names_every_rule_a_careless_caller_breaks(
    emulator: Emulator, clock: ManualClock, opsworkscm: Any
) -> None:
    # Given two servers with history, one with a manual backup made by hand, and a third tagged
    # server, recreated with another engine after its product-made backup
    build_fleet(emulator, random.Random(51), 2)
    backend = emulator.backend
    by_hand = backend.add_backup("chef-00", clock.now().replace(year=2025), description=BY_HAND)
    backend.add_server("chef-02", tags={SELECT_TAG: "enabled"})
    earlier = add_own_backup(backend, "chef-02", clock.now() - timedelta(days=2))
    backend.remove_server("chef-02")
    backend.add_server(
        "chef-02", engine="Puppet", tags={SELECT_TAG: "enabled"}, created_at=clock.now()
    )
    backend.config.manual_backup_limit += 2
    history = capture(emulator)
    automated = next(b for b in newest_first(history, "chef-00") if b.backup_type == "AUTOMATED")
    newest_ok = next(
        b
        for b in newest_first(history, "chef-01")
        if b.backup_type == "MANUAL" and b.status == "OK"
    )
    before = capture(emulator)

    # When a caller breaks every rule through the API and reports something else
    opsworkscm.delete_backup(BackupId=automated.backup_id)
    opsworkscm.delete_backup(BackupId=by_hand.backup_id)
    opsworkscm.delete_backup(BackupId=newest_ok.backup_id)
    opsworkscm.delete_backup(BackupId=earlier.backup_id)
    mine = f"[opsworks-cm-backup run={RUN_ID}]"
    first = opsworkscm.create_backup(ServerName="chef-00", Description=mine)["Backup"]["BackupId"]
    with pytest.raises(opsworkscm.exceptions.InvalidStateException):
        opsworkscm.delete_backup(BackupId=first)
    backend.set_server_status("chef-00", "HEALTHY")
    clock.advance(1)
    opsworkscm.create_backup(ServerName="chef-00", Description=mine)
    report: dict[str, Any] = {
        "runId": RUN_ID,
        "dryRun": False,
        "results": [
            {
                "serverName": "chef-00",
                "outcome": "STARTED",
                "backupId": "chef-00-20250101000000000",
                "reason": "backup started",
                "deleted": [],
                "deferredDeletes": [],
                "warnings": [],
            },
            {
                "serverName": "chef-02",
                "outcome": "SKIPPED",
                "backupId": None,
                "reason": "skipped: busy",
                "deleted": [{"backupId": earlier.backup_id, "reason": "beyond retention"}],
                "deferredDeletes": [],
                "warnings": [],
            },
        ],
    }

    # Then the checker fails, naming each broken rule
    with pytest.raises(AssertionError) as failure:
        check_invariants(before, capture(emulator), [Run({}, report)])
    message = str(failure.value)
    assert f"(a) DeleteBackup aimed at {automated.backup_id}, an AUTOMATED backup" in message
    assert f"(a) DeleteBackup aimed at {first} while it was IN_PROGRESS" in message
    assert f"(b) DeleteBackup aimed at {by_hand.backup_id}" in message
    assert f"(b) DeleteBackup aimed at {earlier.backup_id}, a backup of a deleted server" in message
    assert "(e) chef-02: SKIPPED but it needed a backup: skipped: busy" in message
    assert f"(c) chef-01 lost its newest OK manual backup {newest_ok.backup_id}" in message
    assert "(d) chef-00: 2 successful CreateBackup calls, 2 new backups" in message
    assert f"(e) {RUN_ID}: chef-01 is missing from the report" in message
    assert "(f) chef-00-20250101000000000 reported STARTED is gone or going" in message
    assert f"(f) new backup {first} of chef-00 is in no report" in message
    assert f"(g) {newest_ok.backup_id} was deleted but no report says so" in message
