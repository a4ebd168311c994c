"""The alert topic alone: encrypted with its own rotating key, open to this account's alarms
only, and mailing an address only when one is given; every subscription it makes redrives what
it cannot deliver to the topic's encrypted dead-letter queue, which SNS may send to for this topic
only (asked of the project's IAM evaluator)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Match, Template

from infra.constructs.alerts import AlertTopic
from local.cloud import ACCOUNT, REGION, resolve
from tests.infra.constructs.conftest import (
    acknowledged,
    logical_id,
    only,
    resources,
    synthesized,
)
from tests.infra.test_policies import Request, decide

SNS = {"Service": "sns.amazonaws.com"}
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:undelivered"


def test_the_topic_is_encrypted_with_its_own_rotating_key(stack: Stack) -> None:
    AlertTopic(stack, "Alerts", email=None)
    template = Template.from_stack(stack)

    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::Topic",
        {"KmsMasterKeyId": {"Fn::GetAtt": [Match.string_like_regexp("^AlertsKey"), "Arn"]}},
    )
    template.resource_count_is("AWS::SNS::Subscription", 0)


def test_only_this_accounts_alarms_may_publish(stack: Stack) -> None:
    AlertTopic(stack, "Alerts", email=None)
    template = Template.from_stack(stack)

    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Sid": "AlarmsOfThisAccountPublish",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Condition": {
                                    "StringEquals": {
                                        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
                                    },
                                    "ArnLike": {"aws:SourceArn": Match.any_value()},
                                },
                            }
                        )
                    ]
                )
            }
        },
    )


def test_an_address_is_subscribed_by_email(stack: Stack) -> None:
    AlertTopic(stack, "Alerts", email="ops@example.com")

    Template.from_stack(stack).has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@example.com"}
    )


def test_every_subscription_redrives_to_the_topics_dead_letter_queue(stack: Stack) -> None:
    alerts = AlertTopic(stack, "Alerts", email="ops@example.com")
    template = synthesized(stack)
    subscriptions = resources(template, "AWS::SNS::Subscription").values()

    assert len(subscriptions) == 1
    for subscription in subscriptions:
        assert subscription["Properties"]["RedrivePolicy"] == {
            "deadLetterTargetArn": {"Fn::GetAtt": [logical_id(alerts.undelivered), "Arn"]}
        }


@pytest.mark.parametrize("email", [None, "ops@example.com"], ids=["no e-mail", "e-mail"])
def test_the_dead_letter_queue_is_encrypted_kept_two_weeks_and_there_without_a_subscription(
    stack: Stack, email: str | None
) -> None:
    alerts = AlertTopic(stack, "Alerts", email=email)
    queue = synthesized(stack)["Resources"][logical_id(alerts.undelivered)]["Properties"]

    assert queue == {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 14 * 24 * 3600}


def queue_statements(template: dict[str, Any], alerts: AlertTopic) -> list[dict[str, Any]]:
    _, policy = only(template, "AWS::SQS::QueuePolicy")
    assert policy["Properties"]["Queues"] == [{"Ref": logical_id(alerts.undelivered)}]
    statements: list[dict[str, Any]] = resolve(
        policy["Properties"]["PolicyDocument"]["Statement"],
        {logical_id(alerts.topic): TOPIC_ARN, f"{logical_id(alerts.undelivered)}.Arn": QUEUE_ARN},
    )
    return statements


@pytest.mark.parametrize("email", [None, "ops@example.com"], ids=["no e-mail", "e-mail"])
def test_sns_may_send_to_the_dead_letter_queue_for_this_topic_only(
    stack: Stack, email: str | None
) -> None:
    alerts = AlertTopic(stack, "Alerts", email=email)
    statements = queue_statements(synthesized(stack), alerts)

    def sent(source: str, tls: bool = True) -> str:
        context = {"aws:SourceArn": source, "aws:SecureTransport": str(tls).lower()}
        return decide(statements, Request(SNS, "sqs:SendMessage", QUEUE_ARN, context))

    assert sent(TOPIC_ARN) == "Allow"
    assert sent(f"arn:aws:sns:{REGION}:{ACCOUNT}:another-topic") == "ImplicitDeny"
    assert sent(TOPIC_ARN, tls=False) == "Deny"
    reader = Request(SNS, "sqs:ReceiveMessage", QUEUE_ARN, {"aws:SourceArn": TOPIC_ARN})
    assert decide(statements, reader) == "ImplicitDeny"


def test_the_dead_letter_queue_says_why_it_has_no_dead_letter_queue_of_its_own(
    stack: Stack,
) -> None:
    alerts = AlertTopic(stack, "Alerts", email=None)

    assert acknowledged(alerts.undelivered) == {"AwsSolutions-SQS3", "Serverless-SQSRedrivePolicy"}
