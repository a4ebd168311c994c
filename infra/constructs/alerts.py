"""The alert topic: SNS, encrypted with its own KMS key, that this account's CloudWatch alarms
may publish to (and an e-mail subscription when `alertEmail` is set)."""

from __future__ import annotations

from aws_cdk import Aws, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct


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
    publish to."""

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
        if email:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))
