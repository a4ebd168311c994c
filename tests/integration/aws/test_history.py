"""The history of the last runs per server, in DynamoDB (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backup_orchestrator.aws.history import History
from backup_orchestrator.domain.compliance import REMEMBERED_RUNS, RunEntry

AT = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)


@pytest.fixture
def history() -> Iterator[History]:
    with mock_aws():
        client: Any = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName="history",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield History(client, "history")


def entry(n: int, outcome: str = "FAILED") -> RunEntry:
    return RunEntry(f"scheduled-{n}", AT + timedelta(days=n), outcome, f"reason {n}", None)


def test_an_empty_history_remembers_nothing(history: History) -> None:
    assert history.load() == {}


def test_each_server_keeps_its_last_runs_newest_first(history: History) -> None:
    for n in range(REMEMBERED_RUNS + 2):
        history.record([("chef-a", entry(n)), ("chef-b", entry(n, "STARTED"))], history.load())

    remembered = history.load()

    assert [e.run_id for e in remembered["chef-a"]] == [
        f"scheduled-{n}" for n in range(REMEMBERED_RUNS + 1, 1, -1)
    ]
    assert remembered["chef-b"][0] == entry(REMEMBERED_RUNS + 1, "STARTED")


def test_many_servers_are_written_in_batches(history: History) -> None:
    history.record([(f"srv-{i:03d}", entry(1)) for i in range(60)], {})

    assert len(history.load()) == 60


def test_items_expire_when_no_run_sees_the_server_any_more(history: History) -> None:
    history.record([("chef-a", entry(1))], {})

    [item] = history.client.scan(TableName="history")["Items"]
    expires = int(item["expiration"]["N"])
    assert 89 * 86_400 < expires - datetime.now(UTC).timestamp() <= 90 * 86_400
