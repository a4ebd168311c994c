"""Actions denied by a policy and answered "not found" (safety rule 16), across a fleet: every
server the account still lists is failed or backed up, never taken as gone, and nothing the run
may not delete is deleted."""

from __future__ import annotations

import random

import pytest

from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from local.emulator.faults import DeniedAsNotFound
from tests.chaos.conftest import SCHEDULED, build_fleet, outcomes, results
from tests.chaos.invariants import Run, capture, check_invariants
from tests.conftest import FakeLambdaContext
from tests.support.fleet import Cloud


@pytest.mark.chaos
@pytest.mark.parametrize("seed", [31, 32, 33])
def test_denials_answered_not_found_fail_their_servers_and_nothing_is_taken_as_gone(
    emulator: Emulator, cloud: Cloud, seed: int
) -> None:
    # Given a fleet keeping one backup each, and a policy denying, on a random share of its
    # servers and backups, the tag reads, the backups and the deletions, as "not found"
    dice = random.Random(seed)
    names = build_fleet(emulator, dice, 8)
    for name in names:
        emulator.backend.servers[name].tags["opsworks-cm-backup:retain"] = "1"
    backups = [b.backup_id for b in emulator.backend.backups.values()]
    denied_servers = dice.sample(names, 3)
    denied_backups = dice.sample(backups, min(3, len(backups)))
    emulator.faults.append(
        DeniedAsNotFound(
            emulator,
            ["ListTagsForResource", "CreateBackup", "DeleteBackup", "DescribeBackups"],
            [*denied_servers, *denied_backups],
        )
    )
    before = capture(emulator)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then no server the account lists is skipped as gone; a denied one fails and says why; no
    # denied backup was deleted; and the run's invariants hold
    after = capture(emulator)
    gone = [n for n, r in results(report).items() if "no longer exists" in r["reason"]]
    assert [n for n in gone if n in emulator.backend.servers] == []
    for name in denied_servers:
        if name in results(report):
            assert outcomes(report)[name] == "FAILED", results(report)[name]
            assert "access may be denied" in results(report)[name]["reason"]
    for backup_id in denied_backups:
        assert after.backups[backup_id].status == before.backups[backup_id].status
    check_invariants(before, after, [Run(SCHEDULED, report)])
