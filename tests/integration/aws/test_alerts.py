"""The alerts a run publishes to the stack's topic (SNS in moto), as a subscriber receives them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from backup_orchestrator.aws.alerts import Alerts
from backup_orchestrator.aws.errors import ERRORS, error_code


@dataclass
class Topic:
    sns: Any
    sqs: Any
    arn: str
    queue_url: str

    def received(self) -> list[dict[str, Any]]:
        """The notifications the topic's subscriber (a queue) got, oldest first."""
        messages = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


@pytest.fixture
def topic() -> Iterator[Topic]:
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        arn = sns.create_topic(Name="opsworks-cm-backup-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        yield Topic(sns, sqs, arn, queue_url)


def test_an_alert_reaches_the_topics_subscribers_with_its_subject_and_message(
    topic: Topic,
) -> None:
    alerts = Alerts(topic.sns, topic.arn)

    alerts.publish(
        "OpsWorks CM backup: 1 server out of its RPO",
        "chef-prod: newest good backup 31.0 h old (RPO 29 h)",
    )

    [notification] = topic.received()
    assert notification["TopicArn"] == topic.arn
    assert notification["Subject"] == "OpsWorks CM backup: 1 server out of its RPO"
    assert notification["Message"] == "chef-prod: newest good backup 31.0 h old (RPO 29 h)"


def test_each_alert_is_published_once_in_order(topic: Topic) -> None:
    alerts = Alerts(topic.sns, topic.arn)

    for n in (1, 2, 3):
        alerts.publish(f"alert {n}", f"message {n}")

    assert [(n["Subject"], n["Message"]) for n in topic.received()] == [
        ("alert 1", "message 1"),
        ("alert 2", "message 2"),
        ("alert 3", "message 3"),
    ]


def test_a_topic_that_is_gone_is_a_refusal_the_caller_catches(topic: Topic) -> None:
    # Given the stack's topic was deleted
    topic.sns.delete_topic(TopicArn=topic.arn)
    alerts = Alerts(topic.sns, topic.arn)

    # When an alert is published, then the service's refusal reaches the caller as it was
    with pytest.raises(ClientError) as refused:
        alerts.publish("subject", "message")

    assert error_code(refused.value) == "NotFound"
    assert isinstance(refused.value, ERRORS)
    assert topic.received() == []
