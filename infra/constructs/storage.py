"""What the stack keeps: the dead-letter queue of the schedule (and the function's on-failure
destination), the idempotency table (one run per slot) and the history table (the last runs and
drills).

These are added to the scope they are given, not nested under a construct of their own: their
logical IDs (`DeadLetters`, `Idempotency`, `History`) are what CloudFormation knows them by, and
a new one would replace the tables, and lose their items, on the next deploy.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.nag import acknowledge, acknowledge_rule


class Storage:
    """The queue and the two tables, in `scope`."""

    def __init__(self, scope: Construct) -> None:
        self.dead_letters = self._build_dead_letters(scope)
        self.idempotency = _table(scope, "Idempotency")
        # What the last runs did about each server: a miss is explained in later alerts.
        self.history = _table(scope, "History")

    @staticmethod
    def _build_dead_letters(scope: Construct) -> sqs.Queue:
        queue = sqs.Queue(
            scope,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        reason = (
            "This queue is itself the dead-letter queue of the schedule and the on-failure "
            "destination of the function: what lands here failed, and a person reads it here."
        )
        acknowledge(queue, "AwsSolutions-SQS3", reason)
        acknowledge_rule(queue, "SQSRedrivePolicy", reason)
        return queue


def _table(scope: Construct, construct_id: str) -> dynamodb.TableV2:
    """A small on-demand table keyed by `id`, whose items expire at `expiration`."""
    return dynamodb.TableV2(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        billing=dynamodb.Billing.on_demand(),
        time_to_live_attribute="expiration",
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )
