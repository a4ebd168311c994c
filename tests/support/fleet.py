"""The orchestrator as deployed: the real handler, the emulator, and moto for the rest."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backup_orchestrator.aws.clients import opsworkscm_client
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.retries import RetryPolicy
from backup_orchestrator.contract.events import parse_event
from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.run.orchestrate import run
from backup_orchestrator.run.services import Services
from local.emulator import Emulator
from local.emulator.backend import MUTATING_OPERATIONS

IDEMPOTENCY_TABLE = "opsworks-cm-backup-idempotency"
PASS_MACHINE = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}


@dataclass
class Cloud:
    """What the deployed stack would give the function, in moto."""

    sfn: Any
    dynamodb: Any
    tracker_arn: str

    def executions(self) -> list[dict[str, Any]]:
        listed = self.sfn.list_executions(stateMachineArn=self.tracker_arn)["executions"]
        return [self.sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]

    def tracker_inputs(self) -> list[dict[str, Any]]:
        return [json.loads(e["input"]) for e in self.executions()]

    def idempotency_records(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.dynamodb.scan(TableName=IDEMPOTENCY_TABLE)["Items"]
        return items


@pytest.fixture
def cloud(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=IDEMPOTENCY_TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sfn = boto3.client("stepfunctions")
        tracker_arn = sfn.create_state_machine(
            name="opsworks-cm-backup-tracker",
            definition=json.dumps(PASS_MACHINE),
            roleArn="arn:aws:iam::123456789012:role/tracker",
        )["stateMachineArn"]
        monkeypatch.setenv("TRACKER_STATE_MACHINE_ARN", tracker_arn)
        monkeypatch.setenv("IDEMPOTENCY_TABLE", IDEMPOTENCY_TABLE)
        monkeypatch.setenv("POLL_SECONDS", "5")
        # Twelve polls to the deadline: forty backups fit one execution's history.
        monkeypatch.setenv("DEADLINE_SECONDS", "60")
        # Tests about pacing set the real rate; the others need not wait for it.
        monkeypatch.setenv("OPSWORKSCM_RATE", "1000")
        get_settings.cache_clear()
        yield Cloud(sfn, dynamodb, tracker_arn)
    get_settings.cache_clear()


class LambdaKilled(Exception):
    """The function's process ending under it (a timeout or an out-of-memory kill)."""


@contextmanager
def killed_at_hand_over() -> Iterator[None]:
    """Inside: the function dies at its first hand-over to the tracker (StartExecution), as if
    its process ended there; later hand-overs go through."""
    events = boto3._get_default_session().events  # the session the handler's clients come from
    crashes: list[str] = []

    def die_once(**_: Any) -> None:
        if not crashes:
            crashes.append("StartExecution")
            raise LambdaKilled("the function's process ended")

    events.register("before-call.sfn.StartExecution", die_once)
    try:
        yield
    finally:
        events.unregister("before-call.sfn.StartExecution", die_once)


@pytest.fixture
def paced(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """The function paces itself at its default rate, the service's (for tests about pacing)."""
    monkeypatch.delenv("OPSWORKSCM_RATE")
    get_settings.cache_clear()


def run_with_quick_retries(event: dict[str, Any]) -> dict[str, Any]:
    """One run of the orchestrator as the handler runs it, but retrying with millisecond
    backoff: for faults that outlast every retry, which the real backoff would wait out for a
    minute or more."""
    request = parse_event(event, request_id=str(uuid.uuid4()))
    quick = RetryPolicy(attempts=10, base_seconds=0.001, cap_seconds=0.005)
    services = Services(
        opsworkscm=OpsWorksCM(opsworkscm_client(), quick),
        stepfunctions=boto3.client("stepfunctions"),
    )
    return run(request, get_settings(), services).to_json()


def mutating_calls(emulator: Emulator) -> list[str]:
    return [c.operation for c in emulator.calls if c.operation in MUTATING_OPERATIONS]


def tag(emulator: Emulator, *names: str, **extra: str) -> None:
    """Give servers the selection tag (and any extra tags)."""
    for name in names:
        emulator.backend.servers[name].tags.update({"opsworks-cm-backup": "enabled", **extra})
