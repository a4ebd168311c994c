"""Runs that meet: one slot delivered again and again (the repeats get the first run's record,
which fits its table at the largest fleet), a manual run over a scheduled one."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)

from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from local.emulator.errors import ServiceError, ThrottlingException, ValidationException
from local.emulator.faults import BeforeCall, RandomErrors, for_server
from tests.chaos.conftest import SCHEDULED, build_fleet, outcomes, results
from tests.chaos.invariants import Run, capture, check_invariants
from tests.conftest import FakeLambdaContext
from tests.support.fleet import Cloud, LambdaKilled, killed_at_hand_over
from tests.support.sizes import SERVICE_WORDS, item_bytes, largest_fleet, long_name


def successful_creates(emulator: Emulator) -> list[str]:
    return sorted(c.params["ServerName"] for c in emulator.calls_to("CreateBackup") if not c.error)


def test_same_slot_delivered_three_times_backs_up_once(emulator: Emulator, cloud: Cloud) -> None:
    # Given four servers in a full account, and a fifth of the calls throttled
    names = build_fleet(emulator, random.Random(31), 4, tight=1)
    emulator.faults.append(RandomErrors(0.2, seed=31, error=ThrottlingException, max_in_a_row=3))
    before = capture(emulator)

    # When the schedule delivers the same slot three times
    reports = [lambda_handler(SCHEDULED, FakeLambdaContext()) for _ in range(3)]

    # Then one backup per server was started, the repeats got the first run's record, and one
    # tracker execution follows them
    after = capture(emulator)
    [claim] = cloud.idempotency_records()
    assert reports[1] == reports[2] == json.loads(claim["data"]["S"])
    assert reports[1]["runId"] == reports[0]["runId"]
    assert sorted(reports[1]["servers"]["STARTED"]) == names
    assert outcomes(reports[0]) == dict.fromkeys(names, "STARTED")
    assert successful_creates(emulator) == names
    assert len(emulator.calls_to("DeleteBackup")) >= 1
    [execution] = cloud.executions()
    assert execution["executionArn"] == reports[0]["trackerExecutionArn"]
    assert reports[1]["trackerExecutionArns"] == [execution["executionArn"]]
    check_invariants(before, after, [Run(SCHEDULED, reports[0])])


def test_duplicate_delivered_while_the_first_runs_is_refused_as_in_progress(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given three servers, and the same slot delivered again while the first delivery is between
    # reading the account and starting backups
    names = build_fleet(emulator, random.Random(32), 3)
    refused: list[Exception] = []

    def deliver_again() -> None:
        try:
            lambda_handler(SCHEDULED, FakeLambdaContext())
        except IdempotencyAlreadyInProgressError as exc:
            refused.append(exc)

    emulator.faults.append(BeforeCall("DescribeAccountAttributes", deliver_again))
    before = capture(emulator)

    # When the schedule fires, and then delivers the slot a third time once the first is done
    first = lambda_handler(SCHEDULED, FakeLambdaContext())
    third = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the overlapping delivery was refused as in progress (the scheduler retries it), the
    # late one got the first run's record, and one backup per server was started
    after = capture(emulator)
    assert len(refused) == 1
    assert (third["runId"], third["outcomes"]["STARTED"]) == (first["runId"], len(names))
    assert outcomes(first) == dict.fromkeys(names, "STARTED")
    assert successful_creates(emulator) == names
    assert len(cloud.executions()) == 1
    check_invariants(before, after, [Run(SCHEDULED, first)])


def test_slot_retried_after_a_crash_still_tracks_the_backups_the_slot_started(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given three servers, and the first delivery's function dying as it hands the started
    # backups over to the tracker
    names = build_fleet(emulator, random.Random(33), 3)
    before = capture(emulator)

    # When the slot is delivered, dies, and is delivered again
    with killed_at_hand_over():
        with pytest.raises(LambdaKilled):
            lambda_handler(SCHEDULED, FakeLambdaContext())
        report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then no second backup was started, and the slot's backups are reported and tracked
    after = capture(emulator)
    assert successful_creates(emulator) == names
    check_invariants(before, after, [Run(SCHEDULED, report)])
    tracked = {b["serverName"] for b in cloud.tracker_inputs()[0]["backups"]}
    assert tracked == set(names)


@pytest.mark.parametrize(
    "manual", [{"dryRun": False}, {"servers": ["chef-00", "chef-02"]}], ids=["all-tagged", "named"]
)
def test_manual_run_during_scheduled_backups_starts_no_second_backup(
    emulator: Emulator, cloud: Cloud, manual: dict[str, Any]
) -> None:
    # Given three servers, and the schedule's backups of them still IN_PROGRESS
    names = build_fleet(emulator, random.Random(34), 3)
    before = capture(emulator)
    scheduled = lambda_handler(SCHEDULED, FakeLambdaContext())
    assert outcomes(scheduled) == dict.fromkeys(names, "STARTED")

    # When someone invokes the function by hand
    report = lambda_handler(manual, FakeLambdaContext())

    # Then the manual run skips every server, naming the backup in progress, and starts nothing
    after = capture(emulator)
    expected = manual.get("servers", names)
    assert outcomes(report) == dict.fromkeys(expected, "SKIPPED")
    for result in report["results"]:
        assert results(scheduled)[result["serverName"]]["backupId"] in result["reason"]
        assert "still in progress" in result["reason"]
    assert successful_creates(emulator) == names
    assert report["trackerExecutionArn"] is None
    check_invariants(before, after, [Run(SCHEDULED, scheduled), Run(manual, report)])


def test_manual_run_landing_inside_a_scheduled_run_starts_no_second_backup(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given two servers, and a manual run for chef-00 that starts right before the scheduled
    # run's CreateBackup of chef-00 reaches the service
    build_fleet(emulator, random.Random(35), 2)
    manual = {"servers": ["chef-00"], "description": "before the upgrade"}
    manual_reports: list[dict[str, Any]] = []
    emulator.faults.append(
        BeforeCall(
            "CreateBackup",
            lambda: manual_reports.append(lambda_handler(manual, FakeLambdaContext())),
            when=for_server(emulator, "chef-00"),
        )
    )
    before = capture(emulator)

    # When the schedule fires
    scheduled = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the manual run got chef-00's backup, the scheduled run skipped chef-00 naming that
    # backup, and went on with chef-01
    after = capture(emulator)
    [report] = manual_reports
    assert outcomes(report) == {"chef-00": "STARTED"}
    assert outcomes(scheduled) == {"chef-00": "SKIPPED", "chef-01": "STARTED"}
    assert results(report)["chef-00"]["backupId"] in results(scheduled)["chef-00"]["reason"]
    assert successful_creates(emulator) == ["chef-00", "chef-01"]
    check_invariants(before, after, [Run(SCHEDULED, scheduled), Run(manual, report)])


@pytest.mark.chaos
def test_a_slot_of_the_largest_fleet_is_recorded_within_a_tenth_of_an_item(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given the most servers the configuration accepts, named at the service's longest: a third
    # whose CreateBackup the service refuses with long words, a third under maintenance
    servers = largest_fleet()
    emulator.config.server_limit = servers
    emulator.config.manual_backup_limit = 2 * servers
    names = [long_name(n) for n in range(servers)]
    for n, server in enumerate(names):
        status = "UNDER_MAINTENANCE" if n % 3 == 1 else "HEALTHY"
        emulator.backend.add_server(server, status=status, tags={"opsworks-cm-backup": "enabled"})
    refused = set(names[::3])

    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "CreateBackup" and params.get("ServerName") in refused:
            return ValidationException(SERVICE_WORDS)
        return None

    emulator.faults.append(refuse)

    # When the slot runs, and is delivered again
    first = lambda_handler(SCHEDULED, FakeLambdaContext())
    again = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then its claim in DynamoDB (moto refuses an item over 400 KB) takes under 40 KB, and the
    # repeat got it: the run's counts, its trackers, each failed server by name
    [claim] = cloud.idempotency_records()
    size = item_bytes(claim)
    print(
        f"\nidempotency item for a run of {servers} servers: {size:,} bytes "
        f"(whole report: {len(json.dumps(first, sort_keys=True)):,} bytes)"
    )
    assert size < 40_000
    assert again == json.loads(claim["data"]["S"])
    assert outcomes(first) == {
        n: "STARTED" if i % 3 == 2 else "FAILED" for i, n in enumerate(names)
    }
    assert again["outcomes"] == {
        **dict.fromkeys(again["outcomes"], 0),
        "STARTED": 333,
        "FAILED": 667,
    }
    assert sorted(again["servers"]["FAILED"]) == sorted(n for i, n in enumerate(names) if i % 3 < 2)
    assert again["trackerExecutionArns"] == first["trackerExecutionArns"] != []
    assert len(successful_creates(emulator)) == 333
