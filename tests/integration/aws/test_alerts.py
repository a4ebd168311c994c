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


MONITORING = "222222222222"


@pytest.fixture
def central(topic: Topic, monkeypatch: pytest.MonkeyPatch) -> Topic:
    """The estate's central topic, in the monitoring account (moto's other account), with a
    subscriber of its own there."""
    with monkeypatch.context() as there:
        there.setenv("MOTO_ACCOUNT_ID", MONITORING)
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        arn = sns.create_topic(Name="opsworks-cm-backup-central-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="central-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
    assert f":{MONITORING}:" in arn

    class There(Topic):
        def received(self) -> list[dict[str, Any]]:
            with monkeypatch.context() as inside:
                inside.setenv("MOTO_ACCOUNT_ID", MONITORING)
                return super().received()

    return There(topic.sns, topic.sqs, arn, queue_url)


def test_an_alert_reaches_the_central_topic_of_the_monitoring_account_too(
    topic: Topic, central: Topic
) -> None:
    # The member account's client publishes to both: the central topic is another account's.
    alerts = Alerts(topic.sns, topic.arn, central.arn)

    alerts.publish("OpsWorks CM backup: 1 server(s) outside their RPO", "- chef-late: ...")

    [local] = topic.received()
    [there] = central.received()
    assert (local["TopicArn"], there["TopicArn"]) == (topic.arn, central.arn)
    assert (
        there["Subject"] == local["Subject"] == "OpsWorks CM backup: 1 server(s) outside their RPO"
    )
    assert local["Message"] == "- chef-late: ..."
    # The central subscriber hears from every member: the copy says which stack sent it.
    assert there["Message"] == (
        f"From the stack in account 123456789012, region us-east-1 ({topic.arn}).\n\n"
        "- chef-late: ..."
    )
    assert alerts.central_failed == 0


def test_a_central_topic_that_refuses_loses_no_local_alert_and_is_logged_and_counted(
    topic: Topic, central: Topic, caplog: pytest.LogCaptureFixture
) -> None:
    # Given the central topic is gone (or its policy refuses this account)
    topic.sns.delete_topic(TopicArn=central.arn)
    alerts = Alerts(topic.sns, topic.arn, central.arn)

    # When two alerts are published, then neither raises; the stack's topic has both
    alerts.publish("first", "one")
    alerts.publish("second", "two")

    assert [n["Subject"] for n in topic.received()] == ["first", "second"]
    assert alerts.central_failed == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == ["alert not published to the central topic"] * 2
    assert errors[0].__dict__["topic_arn"] == central.arn
    assert "NotFound" in errors[0].__dict__["error"]


def test_a_stack_topic_that_refuses_still_lets_the_central_topic_have_the_alert(
    topic: Topic, central: Topic
) -> None:
    topic.sns.delete_topic(TopicArn=topic.arn)
    alerts = Alerts(topic.sns, topic.arn, central.arn)

    with pytest.raises(ClientError):
        alerts.publish("subject", "message")

    assert [n["Subject"] for n in central.received()] == ["subject"]
