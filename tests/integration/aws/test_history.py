"""The history of the last runs per server, in DynamoDB (moto), small at the largest fleet."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from backup_orchestrator.aws.history import History
from backup_orchestrator.domain import messages
from backup_orchestrator.domain.compliance import REMEMBERED_RUNS, RunEntry
from backup_orchestrator.domain.messages import REASON_BYTES
from tests.support.sizes import LONG_REASON, RUN, item_bytes, largest_fleet, long_name

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


def test_the_largest_fleets_items_stay_small_whatever_the_services_words(history: History) -> None:
    # Given the largest fleet, names at their longest, whose last runs all failed with the
    # service's words, and this run's reason far longer (nothing bounds the service's words)
    servers = [long_name(n) for n in range(largest_fleet())]
    last = {
        s: [RunEntry(f"manual-{'a' * 32}", AT, "FAILED", LONG_REASON, f"{s}-1") for _ in range(9)]
        for s in servers
    }
    words = LONG_REASON * 20
    now = [(s, RunEntry(RUN, AT, "FAILED", words, f"{s}-20260105020001123")) for s in servers]

    # When this run is recorded
    history.record(now, last)

    # Then every item is written (moto refuses one over 400 KB), each under 8 KB: the last
    # five runs, each reason cut to 1,000 bytes with "..."
    for server in (servers[0], servers[-1]):
        item = history.client.get_item(TableName="history", Key={"id": {"S": f"server#{server}"}})
        size = item_bytes(item["Item"])
        print(f"\nhistory item of {server}, of {len(servers)} servers: {size:,} bytes")
        assert size < 8_000
        runs = item["Item"]["runs"]["L"]
        assert len(runs) == REMEMBERED_RUNS
        assert runs[0]["M"]["reason"]["S"] == messages.cut(words, REASON_BYTES)
    assert history.client.describe_table(TableName="history")["Table"]["ItemCount"] == len(servers)
