"""The tracker's function through its handler against the emulator: the next state, the metrics
it publishes (EMF), and bad input refused by name before any call."""

from __future__ import annotations

import json
from typing import Any

import pytest

from backup_orchestrator.contract.task_errors import BadTaskInput, ServiceError
from backup_orchestrator.domain.tracking import Batch, execution_input
from backup_orchestrator.handlers.tracker import lambda_handler
from local.emulator import Emulator, ManualClock
from local.emulator.errors import AccessDeniedException
from tests.conftest import FakeLambdaContext, add_own_backup

EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:tracker:run-1-1"


def metrics(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The metric values of the EMF documents written, by name."""
    found: dict[str, Any] = {}
    for line in capsys.readouterr().out.splitlines():
        if '"_aws"' in line:
            document = json.loads(line)
            for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
                found[metric["Name"]] = document[metric["Name"]]
    return found


def event(emulator: Emulator, *servers: str, deferred: int = 0) -> dict[str, Any]:
    backups = []
    for name in servers:
        emulator.backend.add_server(name)
        older = [add_own_backup(emulator, name, 2 + d) for d in range(deferred)]
        new = emulator.backend.op_create_backup({"ServerName": name}, "caller")["Backup"]
        backups.append({"serverName": name, "backupId": new["BackupId"], "deferredDeletes": older})
    state = execution_input(
        "run-1", "run-1-1", Batch(backups), poll_seconds=60, deadline_seconds=3600
    )
    return {"state": state, "execution": EXECUTION}


def test_a_poll_answers_the_next_state_and_counts_what_ended(
    emulator: Emulator, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.config.fail_backups = ("puppet-*",)
    given = event(emulator, "chef-a", "puppet-a", deferred=1)
    clock.advance(600)
    capsys.readouterr()

    answer = lambda_handler(given, FakeLambdaContext())

    assert answer["finished"] and answer["failed"] and answer["polls"] == 1
    assert {r["serverName"]: r["outcome"] for r in answer["results"]} == {
        "chef-a": "OK",
        "puppet-a": "FAILED",
    }
    published = metrics(capsys)
    assert published["BackupsSucceeded"] in (1, [1]) and published["BackupsFailed"] in (1, [1])
    ok = next(r for r in answer["results"] if r["ok"])
    assert published["BackupDuration"] in (ok["elapsedSeconds"], [ok["elapsedSeconds"]])
    assert "RetentionDeleteFailures" not in published
    json.dumps(answer)  # the state machine carries it as JSON


def test_an_account_that_refuses_the_read_ends_in_a_named_error(emulator: Emulator) -> None:
    given = event(emulator, "chef-a")
    emulator.faults.append(lambda operation, params: AccessDeniedException("no"))

    with pytest.raises(ServiceError, match="AccessDeniedException"):
        lambda_handler(given, FakeLambdaContext())


@pytest.mark.parametrize(
    ("broken", "field"),
    [
        ({"execution": EXECUTION}, "state"),
        ({"state": {}, "execution": EXECUTION}, "state.runId"),
        (
            {
                "state": {"runId": "r", "pollSeconds": 1, "deadlineSeconds": 1, "maxPolls": 1},
                "execution": "x",
            },
            "backups",
        ),
        (
            {
                "state": {
                    "runId": "r",
                    "pollSeconds": 1,
                    "deadlineSeconds": 1,
                    "maxPolls": 1,
                    "backups": [],
                }
            },
            "execution",
        ),
    ],
)
def test_bad_input_names_the_field_and_calls_nothing(
    emulator: Emulator, broken: dict[str, Any], field: str
) -> None:
    with pytest.raises(BadTaskInput, match=field):
        lambda_handler(broken, FakeLambdaContext())
    assert emulator.calls == []
