# mypy: disable-error-code="arg-type"
"""A slot runs at most once however often it is delivered: the claim in DynamoDB (moto), which
keeps the run's record, small enough at the largest fleet."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from moto import mock_aws

from backup_orchestrator.aws import idempotency
from backup_orchestrator.aws.idempotency import IDEMPOTENCY_SECONDS, once_per_slot
from backup_orchestrator.contract.report import RECORD_LIMIT, RunRecord
from tests.conftest import FakeLambdaContext
from tests.support.sizes import item_bytes, largest_fleet, whole_report

TABLE = "idempotency"
SLOT = "scheduled-20260105T120000Z"


class Runs:
    """A run to hand `once_per_slot`: counts how often it ran, answers with that count and a
    report, and leaves a record of it without the report."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> tuple[dict[str, Any], dict[str, Any]]:
        self.count += 1
        return {"runId": SLOT, "run": self.count, "report": "whole"}, {"run": self.count}


class Lines(logging.Handler):
    """The messages the module logs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def logged() -> Iterator[Lines]:
    lines = Lines()
    log = logging.getLogger(idempotency.logger.name)
    log.addHandler(lines)
    yield lines
    log.removeHandler(lines)


def claims(dynamodb: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = dynamodb.scan(TableName=TABLE)["Items"]
    return items


def test_a_slot_delivered_again_gets_the_first_runs_record_without_running(
    dynamodb: Any, logged: Lines
) -> None:
    runs = Runs()

    first = once_per_slot(runs, SLOT, TABLE, FakeLambdaContext())
    again = once_per_slot(runs, SLOT, TABLE, FakeLambdaContext())

    # The first delivery gets the whole answer; the table keeps the record, which a repeat gets
    assert first == {"runId": SLOT, "run": 1, "report": "whole"}
    assert again == {"run": 1}
    [claim] = claims(dynamodb)
    assert json.loads(claim["data"]["S"]) == again
    assert runs.count == 1
    assert logged.messages == ["repeated delivery: returning the first run's record"]


def test_a_first_delivery_is_not_called_a_repeat(dynamodb: Any, logged: Lines) -> None:
    once_per_slot(Runs(), SLOT, TABLE, FakeLambdaContext())

    assert logged.messages == []


def test_other_slots_and_tries_run_each_once(dynamodb: Any) -> None:
    runs = Runs()
    keys = [SLOT, f"{SLOT}-retry-1", "scheduled-20260106T120000Z", SLOT, f"{SLOT}-retry-1"]

    reports = [once_per_slot(runs, key, TABLE, FakeLambdaContext())["run"] for key in keys]

    assert reports == [1, 2, 3, 1, 2]
    assert len(claims(dynamodb)) == 3


def test_a_claim_outlasts_the_schedulers_retries(dynamodb: Any) -> None:
    before = time.time()

    once_per_slot(Runs(), SLOT, TABLE, FakeLambdaContext())

    [claim] = claims(dynamodb)
    assert claim["status"]["S"] == "COMPLETED"
    expires = int(claim["expiration"]["N"])
    assert IDEMPOTENCY_SECONDS == 48 * 3600
    assert before + IDEMPOTENCY_SECONDS - 1 <= expires <= time.time() + IDEMPOTENCY_SECONDS + 1


def test_a_delivery_while_the_first_still_runs_does_not_run_it_again(dynamodb: Any) -> None:
    # Given a run of the slot under way
    second = Runs()

    def first() -> tuple[dict[str, Any], dict[str, Any]]:
        # When the slot is delivered again meanwhile
        with pytest.raises(IdempotencyAlreadyInProgressError):
            once_per_slot(second, SLOT, TABLE, FakeLambdaContext())
        return {"run": "first"}, {}

    report = once_per_slot(first, SLOT, TABLE, FakeLambdaContext())

    # Then the second delivery was refused and only the first ran
    assert report == {"run": "first"}
    assert second.count == 0


def test_a_claim_in_progress_lapses_when_the_function_would_have_timed_out(
    dynamodb: Any,
) -> None:
    # A run killed mid-way leaves its claim INPROGRESS: it must not block the slot for two days.
    seen: list[dict[str, Any]] = []

    def run() -> tuple[dict[str, Any], dict[str, Any]]:
        seen.extend(claims(dynamodb))
        return {}, {}

    before_ms = time.time() * 1000
    once_per_slot(run, SLOT, TABLE, FakeLambdaContext(remaining_ms=90_000))

    [claim] = seen
    assert claim["status"]["S"] == "INPROGRESS"
    lapses_ms = int(claim["in_progress_expiration"]["N"])
    assert before_ms + 90_000 - 1000 <= lapses_ms <= time.time() * 1000 + 90_000


def test_a_run_that_failed_leaves_the_slot_to_the_next_delivery(dynamodb: Any) -> None:
    def failing() -> tuple[dict[str, Any], dict[str, Any]]:
        raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError, match="the run failed"):
        once_per_slot(failing, SLOT, TABLE, FakeLambdaContext())
    runs = Runs()
    report = once_per_slot(runs, SLOT, TABLE, FakeLambdaContext())

    assert (report["run"], runs.count) == (1, 1)


def test_the_record_of_a_run_of_the_largest_fleet_fits_a_tenth_of_an_item(dynamodb: Any) -> None:
    # Given a run of the most servers the configuration accepts, every part of its report at its
    # fullest (long failure reasons, deletions, compliance reasons, drills)
    servers = largest_fleet()
    report = whole_report(servers)
    whole = report.to_json()

    # When its slot is claimed and done, as the handler does it, and then delivered again
    first = once_per_slot(
        lambda: (whole, RunRecord.of(report).to_json()), SLOT, TABLE, FakeLambdaContext()
    )
    again = once_per_slot(Runs(), SLOT, TABLE, FakeLambdaContext())

    # Then DynamoDB (moto refuses an item over 400 KB) holds the record in under 40 KB
    [claim] = claims(dynamodb)
    size = item_bytes(claim)
    print(
        f"\nidempotency item for {servers} servers: {size:,} bytes "
        f"(whole report: {len(json.dumps(whole, sort_keys=True)):,} bytes)"
    )
    assert size < RECORD_LIMIT == 40_000
    # And the first delivery got the whole report, the second the record: the run, its counts,
    # its trackers, and as many servers' outcomes as fit, the ones not backed up first
    assert first == whole
    assert again == json.loads(claim["data"]["S"])
    assert again["runId"] == report.run_id
    assert again["outcomes"] == {
        "STARTED": 333,
        "PLANNED": 0,
        "SKIPPED": 0,
        "RETRYING": 333,
        "FAILED": 334,
    }
    assert again["trackerExecutionArns"] == whole["trackerExecutionArns"]
    assert again["servers"]["FAILED"] == [r["serverName"] for r in whole["results"][::3]]
    listed = sum(len(names) for names in again["servers"].values())
    assert listed + again["unlisted"] == servers
    assert again["unlisted"] > 0  # forty-character names: not all fit
    assert "server outcome" in again["wholeReport"]
