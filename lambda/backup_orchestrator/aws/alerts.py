"""SNS: the alerts a run publishes to the stack's topic (the state machines publish their own)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types_boto3_sns import SNSClient


class Alerts:
    """The alert topic, through an SNS client."""

    def __init__(self, client: SNSClient, topic_arn: str) -> None:
        self.client = client
        self.topic_arn = topic_arn

    def publish(self, subject: str, message: str) -> None:
        """Publish one alert. Raises what the SNS client raises (see errors.ERRORS)."""
        self.client.publish(TopicArn=self.topic_arn, Subject=subject, Message=message)
