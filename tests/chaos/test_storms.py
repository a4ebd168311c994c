"""Storms of service errors on a whole fleet: throttling, HTTP 500s, answers lost after the fact."""

from __future__ import annotations

import random

import pytest

from backup_orchestrator.aws.pacing import TokenBucket
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from local.emulator.errors import InternalFailure, ServiceUnavailable, ThrottlingException
from local.emulator.faults import LostResponses, RandomErrors
from tests.chaos.conftest import SCHEDULED, build_fleet, outcomes, results
from tests.chaos.invariants import Run, capture, check_invariants
from tests.conftest import FakeLambdaContext
from tests.support.fleet import Cloud


@pytest.mark.chaos
@pytest.mark.usefixtures("paced")
def test_throttling_storm_loses_nothing(emulator: Emulator, cloud: Cloud) -> None:
    # Given ten servers in an account that is full (room for 7 of their 10 new backups), the
    # service's own rate limit, and half of all calls throttled on top of it (at most four times
    # running for the same call: a storm the retries ride out, not an outage)
    names = build_fleet(emulator, random.Random(1), 10, tight=3)
    emulator.bucket = TokenBucket(rate=5, burst=10)
    storm = RandomErrors(0.5, seed=1, error=ThrottlingException, max_in_a_row=4)
    emulator.faults.append(storm)
    before = capture(emulator)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then every server's backup started, room was made, and no call failed but by throttling
    # (and, where the deletions still count, by the limit until they were gone)
    after = capture(emulator)
    assert outcomes(report) == dict.fromkeys(names, "STARTED")
    assert sum(len(r["deleted"]) for r in report["results"]) == 3
    answered = after.calls[len(before.calls) :]
    throttled = [c for c in answered if c.error == "ThrottlingException"]
    expected = {None, "ThrottlingException"}
    if emulator.config.deleting_counts_toward_limit:
        expected.add("LimitExceededException")
    assert {c.error for c in answered} <= expected
    assert len(throttled) >= len(answered) * 0.4
    # The service's own limiter never had to step in: the client paced every retry.
    assert len(throttled) == len(storm.injected)
    check_invariants(before, after, [Run(SCHEDULED, report)])


# Seeds whose dice lose both a CreateBackup and a DeleteBackup answer (the dice roll per call, so
# a change to the calls' parameters moves them).
@pytest.mark.parametrize("seed", [4, 7])
def test_service_errors_leave_report_and_account_in_agreement(
    emulator: Emulator, cloud: Cloud, seed: int
) -> None:
    # Given six servers (one busy with an earlier run's backup) in a full account, 15% of calls
    # answered HTTP 500 and 5% HTTP 503, and 40% of the creates and deletes that get through
    # answered 500 after they took effect
    build_fleet(emulator, random.Random(seed), 6, tight=2, busy=1)
    failures = RandomErrors(0.15, seed=seed, error=InternalFailure)
    unavailable = RandomErrors(0.05, seed=seed + 100, error=ServiceUnavailable)
    lost = LostResponses(emulator, 0.4, seed=seed)
    emulator.faults.extend([failures, unavailable, lost])
    before = capture(emulator)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the run completes, each server STARTED or says why not, and the report agrees with the
    # account (check_invariants: every STARTED backupId exists, every new backup is reported)
    after = capture(emulator)
    assert {op for op, _ in lost.lost} == {"CreateBackup", "DeleteBackup"}
    assert failures.injected
    assert outcomes(report) == {
        "chef-00": "SKIPPED",  # busy with an earlier run's backup
        **{f"chef-{i:02d}": "STARTED" for i in range(1, 6)},
    }
    assert "still in progress" in results(report)["chef-00"]["reason"]
    check_invariants(before, after, [Run(SCHEDULED, report)])


def test_deletion_whose_answer_was_lost_is_reported_as_done(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given a full account where one old backup must go to make room, and the answer to that
    # DeleteBackup lost after the deletion started
    build_fleet(emulator, random.Random(5), 1, tight=1)
    emulator.faults.append(LostResponses(emulator, 1.0, seed=5, operations=["DeleteBackup"]))
    before = capture(emulator)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the report says what the run did: one deletion, and the quota as the account has it
    after = capture(emulator)
    check_invariants(before, after, [Run(SCHEDULED, report)])
    result = results(report)["chef-00"]
    assert result["outcome"] == "STARTED"
    actually_used = emulator.backend.manual_backups_used()
    assert report["quota"]["usedAfterRun"] == actually_used <= report["quota"]["maximum"]
    assert len(result["deleted"]) == 1
    assert result["warnings"] == []
