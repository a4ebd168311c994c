"""What a run talks to (services.py): whether its busy servers are tried again later in its slot,
and what the last runs did about each server, read from the history table (DynamoDB in moto), or
nothing, said in the log, when that cannot be read."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backup_orchestrator.aws.history import History
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.domain.compliance import RunEntry
from backup_orchestrator.run.services import Followers
from tests.support.planning import NOW
from tests.support.running import RUN, TARGET, manual, scheduled, settings


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="history",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


# ---- the slot's next try ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "scheduler", "target", "window", "retries"),
    [
        (scheduled(), True, True, "120", True),
        # Two hours hold eight later tries: the eighth is the last, and schedules none.
        (scheduled(7), True, True, "120", True),
        (scheduled(8), True, True, "120", False),
        (scheduled(dry_run=True), True, True, "120", False),
        (manual("chef-a"), True, True, "120", False),
        (scheduled(), False, True, "120", False),
        (scheduled(), True, False, "120", False),
        (scheduled(), True, True, "0", False),
    ],
    ids=[
        "the slot's run",
        "the last try but one",
        "the last try",
        "a dry run",
        "a manual run",
        "no scheduler",
        "no retry target",
        "no retry window",
    ],
)
def test_busy_servers_are_tried_again_only_by_a_real_scheduled_run_that_can_schedule_more(
    request_: RunRequest, scheduler: bool, target: bool, window: str, retries: bool
) -> None:
    followers = Followers(
        scheduler=boto3.client("scheduler", region_name="us-east-1") if scheduler else None,
        retry_target=TARGET if target else None,
    )

    assert followers.can_retry(request_, settings(RETRY_WINDOW_MINUTES=window)) is retries


# ---- the last runs ----------------------------------------------------------------------------


def test_without_a_history_table_nothing_is_remembered() -> None:
    assert Followers().remembered() == {}


def test_the_last_runs_are_what_the_history_table_holds(dynamodb: Any) -> None:
    history = History(dynamodb, "history")
    failed = RunEntry(RUN, NOW, "FAILED", "not backed up: the limit was full")
    started = RunEntry(RUN, NOW, "STARTED", "backup started", "chef-b-1")
    history.record([("chef-a", failed), ("chef-b", started)], {})

    assert Followers(history=history).remembered() == {"chef-a": [failed], "chef-b": [started]}


def test_a_history_that_cannot_be_read_is_nothing_remembered_and_an_error_in_the_log(
    dynamodb: Any, caplog: pytest.LogCaptureFixture
) -> None:
    followers = Followers(history=History(dynamodb, "no-such-table"))

    with caplog.at_level(logging.ERROR):
        remembered = followers.remembered()

    assert remembered == {}
    [logged] = caplog.records
    assert (logged.levelname, logged.getMessage()) == ("ERROR", "history not read")
    assert "ResourceNotFoundException" in logged.__dict__["error"]
