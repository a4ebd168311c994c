"""SNS: the alerts a run publishes to the stack's topic (the state machines publish their own),
and, in an estate with a monitoring account, to the central topic of the stack's region too."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger

from backup_orchestrator.aws.errors import ERRORS

if TYPE_CHECKING:
    from types_boto3_sns import SNSClient

logger = Logger(child=True)


class Alerts:
    """The alert topic, and the estate's central topic when there is one, through an SNS
    client. `central_failed` counts the alerts the central topic did not take (the handler
    records it as the CentralAlertsFailed metric)."""

    def __init__(
        self, client: SNSClient, topic_arn: str, central_topic_arn: str | None = None
    ) -> None:
        self.client = client
        self.topic_arn = topic_arn
        self.central_topic_arn = central_topic_arn
        self.central_failed = 0

    def publish(self, subject: str, message: str) -> None:
        """Publish one alert to the stack's topic, then to the central topic (its message
        starting with `origin()`).

        Raises what the SNS client raised for the stack's topic (see errors.ERRORS), after the
        central publish was tried all the same. A central failure never raises: it is logged
        as an error and counted in `central_failed`, the stack's topic having had its alert.
        """
        try:
            self.client.publish(TopicArn=self.topic_arn, Subject=subject, Message=message)
        finally:
            if self.central_topic_arn:
                self._publish_central(self.central_topic_arn, subject, self.origin() + message)

    def origin(self) -> str:
        """The line the central copy starts with: where the alert comes from (the stack's topic
        ARN holds its account and region), since the central topic hears from every member."""
        parts = self.topic_arn.split(":")
        region, account = (parts[3], parts[4]) if len(parts) > 4 else ("?", "?")
        return f"From the stack in account {account}, region {region} ({self.topic_arn}).\n\n"

    def _publish_central(self, topic_arn: str, subject: str, message: str) -> None:
        try:
            self.client.publish(TopicArn=topic_arn, Subject=subject, Message=message)
        except ERRORS as exc:
            self.central_failed += 1
            logger.error(
                "alert not published to the central topic",
                extra={"topic_arn": topic_arn, "subject": subject, "error": str(exc)},
            )
