"""The hand-over (handover.py): a run's started backups go to the tracker state machine (Step
Functions in moto), which follows each to OK or FAILED and applies its deferred deletions; a
hand-over that fails is the run's trackerError and its metric, never silence."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backup_orchestrator.contract.report import DeletionReport, ServerResult
from backup_orchestrator.contract.settings import Settings, get_settings
from backup_orchestrator.domain.history_budget import tracker_polls
from backup_orchestrator.domain.records import Outcome
from backup_orchestrator.domain.tracking import first_wait
from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run.handover import hand_over
from local.emulator import Emulator
from tests.conftest import FakeLambdaContext
from tests.support.fleet import PASS_MACHINE, Cloud, tag
from tests.support.running import RUN, run_report, settings

SCHEDULED = {"source": "schedule", "scheduledTime": "2026-01-05T12:00:00Z"}


@dataclass
class Tracker:
    sfn: Any
    arn: str

    def settings(self, **environ: str) -> Settings:
        return settings(TRACKER_STATE_MACHINE_ARN=self.arn, **environ)

    def inputs(self) -> list[dict[str, Any]]:
        listed = self.sfn.list_executions(stateMachineArn=self.arn)["executions"]
        return [
            json.loads(self.sfn.describe_execution(executionArn=e["executionArn"])["input"])
            for e in listed
        ]


@pytest.fixture
def tracker() -> Iterator[Tracker]:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(
            name="opsworks-cm-backup-tracker",
            definition=json.dumps(PASS_MACHINE),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]
        yield Tracker(sfn, arn)


def started(name: str, *deferred: str) -> ServerResult:
    return ServerResult(
        server_name=name,
        outcome=Outcome.STARTED,
        reason="backup started",
        backup_id=f"{name}-new",
        deferred_deletes=[DeletionReport(backup_id=d, reason="beyond retention") for d in deferred],
    )


def test_the_started_backups_go_to_the_tracker_with_their_deferred_deletions(
    tracker: Tracker,
) -> None:
    backups = [started("chef-a", "chef-a-old", "chef-a-older"), started("chef-b")]
    report = run_report(*backups)

    hand_over(report, backups, tracker.settings(POLL_SECONDS="30"), tracker.sfn)

    [execution] = tracker.sfn.list_executions(stateMachineArn=tracker.arn)["executions"]
    assert report.tracker_execution_arn == execution["executionArn"]
    assert report.tracker_execution_arns == [execution["executionArn"]]
    [given] = tracker.inputs()
    assert (given["firstWaitSeconds"], given["maxPolls"]) == (
        first_wait(execution["name"], 30),
        tracker_polls(10_800, 30, 2),
    )
    assert (report.tracker_error, tracker.inputs()) == (
        None,
        [
            {
                "runId": RUN,
                "pollSeconds": 30,
                "deadlineSeconds": 10_800,
                "firstWaitSeconds": given["firstWaitSeconds"],
                "maxPolls": given["maxPolls"],
                "polls": 0,
                "results": [],
                "report": "",
                "backups": [
                    {
                        "serverName": "chef-a",
                        "backupId": "chef-a-new",
                        "deferredDeletes": ["chef-a-old", "chef-a-older"],
                    },
                    {"serverName": "chef-b", "backupId": "chef-b-new", "deferredDeletes": []},
                ],
            }
        ],
    )


def test_more_backups_than_one_execution_follows_go_to_several_all_in_the_report(
    tracker: Tracker,
) -> None:
    # One execution follows up to 200 backups.
    backups = [started(f"chef-{n:03d}") for n in range(201)]
    report = run_report(*backups)

    hand_over(
        report, backups, tracker.settings(POLL_SECONDS="5", DEADLINE_SECONDS="60"), tracker.sfn
    )

    assert len(report.tracker_execution_arns) == 2
    assert report.tracker_execution_arn == report.tracker_execution_arns[0]
    followed = sorted(b["backupId"] for i in tracker.inputs() for b in i["backups"])
    assert followed == sorted(b.backup_id for b in backups if b.backup_id)


def test_a_hand_over_that_fails_is_the_runs_tracker_error_and_an_error_in_the_log(
    tracker: Tracker, caplog: pytest.LogCaptureFixture
) -> None:
    backups = [started("chef-a")]
    report = run_report(*backups)
    missing = tracker.arn.replace("opsworks-cm-backup-tracker", "no-such-machine")

    with caplog.at_level(logging.ERROR):
        hand_over(report, backups, settings(TRACKER_STATE_MACHINE_ARN=missing), tracker.sfn)

    assert report.tracker_error is not None
    assert report.tracker_error.startswith("could not start the tracker: An error occurred (")
    assert "StateMachineDoesNotExist" in report.tracker_error
    assert (report.tracker_execution_arn, report.tracker_execution_arns) == (None, [])
    [logged] = caplog.records
    assert logged.getMessage() == "tracker not started"


def test_a_tracker_that_cannot_start_is_reported_and_counted(
    emulator: Emulator,
    cloud: Cloud,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    missing = cloud.tracker_arn.replace("opsworks-cm-backup-tracker", "no-such-machine")
    monkeypatch.setenv("TRACKER_STATE_MACHINE_ARN", missing)
    get_settings.cache_clear()
    capsys.readouterr()

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # The backup started all the same; nothing follows it, and that is an alarm.
    [started] = report["results"]
    assert started["outcome"] == "STARTED"
    assert report["trackerError"].startswith("could not start the tracker: ")
    assert "StateMachineDoesNotExist" in report["trackerError"]
    assert report["trackerExecutionArns"] == []
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    [metrics] = [m for m in printed if "BackupsStarted" in m]
    assert metrics["TrackerStartFailures"] in (1.0, [1.0])
