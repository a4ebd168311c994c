"""The stack's state alone: the dead-letter queue and the two tables, under the logical IDs
deployed stacks know them by (a new ID would replace a table, and lose its items)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk.assertions import Template

from infra.constructs.storage import Storage


def test_the_tables_expire_items_and_keep_point_in_time_recovery(stack: Stack) -> None:
    Storage(stack)
    tables = Template.from_stack(stack).find_resources("AWS::DynamoDB::GlobalTable")

    assert {logical[:-8] for logical in tables} == {"Idempotency", "History"}
    for table in tables.values():
        properties = table["Properties"]
        assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
        assert properties["TimeToLiveSpecification"] == {
            "AttributeName": "expiration",
            "Enabled": True,
        }
        assert properties["Replicas"][0]["PointInTimeRecoverySpecification"] == {
            "PointInTimeRecoveryEnabled": True
        }
        assert properties["BillingMode"] == "PAY_PER_REQUEST"


def test_the_dead_letter_queue_is_encrypted_and_keeps_two_weeks(stack: Stack) -> None:
    Storage(stack)
    queues = Template.from_stack(stack).find_resources("AWS::SQS::Queue")

    [(logical, queue)] = queues.items()
    assert logical.startswith("DeadLetters")
    assert queue["Properties"] == {
        "MessageRetentionPeriod": 1_209_600,
        "SqsManagedSseEnabled": True,
    }
