"""The alert topic: SNS, encrypted with its own KMS key, that this account's CloudWatch alarms
may publish to (and an e-mail subscription when `alertEmail` is set); and the dead-letter queue
of its subscriptions, where an alert SNS could not deliver waits instead of being dropped."""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.constructs.nag import acknowledge, acknowledge_rule


def alarms_of_this_account() -> dict[str, dict[str, str]]:
    """Conditions that let the CloudWatch service act only for this account's alarms in this
    region (confused-deputy protection: another account's alarm cannot use the grant)."""
    return {
        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        "ArnLike": {
            "aws:SourceArn": f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:*"
        },
    }


class AlertTopic(Construct):
    """An SNS topic encrypted with its own KMS key, that this account's CloudWatch alarms may
    publish to, and the dead-letter queue (`Undelivered`) every subscription it is given uses."""

    def __init__(self, scope: Construct, construct_id: str, *, email: str | None) -> None:
        super().__init__(scope, construct_id)
        alarms = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the OpsWorks CM backup alert topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # An alarm publishing to an encrypted topic uses the key itself, as the CloudWatch
        # service principal; the account's own principals get the key through IAM.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisAccountUseTheKey",
                principals=[alarms],
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=["*"],
                conditions=alarms_of_this_account(),
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name="OpsWorks CM backup alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        # A topic policy replaces SNS's default one, which is what let CloudWatch publish:
        # without this statement no alarm could notify.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsOfThisAccountPublish",
                principals=[alarms],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=alarms_of_this_account(),
            )
        )
        self.undelivered = self._build_undelivered()
        if email:
            self.topic.add_subscription(
                subscriptions.EmailSubscription(email, dead_letter_queue=self.undelivered)
            )

    def _build_undelivered(self) -> sqs.Queue:
        """Where SNS puts an alert a subscription could not take after its retries."""
        return undelivered_queue(self, self.topic, "the alert topic's")


def undelivered_queue(scope: Construct, topic: sns.ITopic, whose: str) -> sqs.Queue:
    """Where SNS puts an alert a subscription of `topic` could not take after its retries (a
    bounced address, an endpoint that kept failing): SNS may send to it for this topic only, so
    a subscription added by hand can redrive to it too. `whose`: the topic, as the reasons of the
    acknowledged findings name it."""
    queue = sqs.Queue(
        scope,
        "Undelivered",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal("sns.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": topic.topic_arn}},
        )
    )
    reason = (
        f"This queue is itself the dead-letter queue of {whose} subscriptions: an "
        "alert lands here because it could not be delivered, and a person reads it here."
    )
    acknowledge(queue, "AwsSolutions-SQS3", reason)
    acknowledge_rule(queue, "SQSRedrivePolicy", reason)
    return queue
