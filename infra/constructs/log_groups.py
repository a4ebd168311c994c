"""The stack's log groups: each made here, kept for `logRetentionDays`, and encrypted with one
customer-managed KMS key (rotated yearly) that CloudWatch Logs in this region may use for these
log groups only.

The key's policy names each log group by the ARN its encryption context carries
(`kms:EncryptionContext:aws:logs:arn`): its own name when it has one, else the name
CloudFormation gives it, `<stack>-<logical ID>-<random suffix>`. Matching the generated names by
their pattern keeps the groups deployed stacks have: naming them now would replace them, and
their logs with them. Giving an existing log group a key is an in-place update.
"""

from __future__ import annotations

from typing import cast

import jsii
from aws_cdk import Aws, CfnElement, IStableListProducer, Lazy, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

# The context key CloudWatch Logs puts in every request it makes with the key.
ENCRYPTION_CONTEXT = "kms:EncryptionContext:aws:logs:arn"
# What CloudWatch Logs does with a log group's key (the CloudWatch Logs user guide's policy).
LOGS_KEY_ACTIONS = [
    "kms:Encrypt*",
    "kms:Decrypt*",
    "kms:ReEncrypt*",
    "kms:GenerateDataKey*",
    "kms:Describe*",
]


@jsii.implements(IStableListProducer)
class _Listed:
    """The list as it is when the template is written (every log group made by then)."""

    def __init__(self, values: list[str]) -> None:
        self._values = values

    def produce(self) -> list[str]:
        return list(self._values)


class LogGroups(Construct):
    """The key (`Key`) and the log groups it encrypts, made with `create`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, retention: logs.RetentionDays
    ) -> None:
        super().__init__(scope, construct_id)
        self.retention = retention
        self.arns: list[str] = []
        self.key = kms.Key(
            self,
            "Key",
            description="Encrypts the OpsWorks CM backup orchestrator's log groups",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsForTheseLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=LOGS_KEY_ACTIONS,
                resources=["*"],
                conditions={"ArnLike": {ENCRYPTION_CONTEXT: Lazy.list(_Listed(self.arns))}},
            )
        )

    def create(
        self, scope: Construct, construct_id: str, *, name: str | None = None
    ) -> logs.LogGroup:
        """A log group `construct_id` in `scope` (named `name`, or by CloudFormation), kept for
        the configured retention, deleted with the stack, encrypted with the key."""
        group = logs.LogGroup(
            scope,
            construct_id,
            log_group_name=name,
            retention=self.retention,
            encryption_key=self.key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        stack = Stack.of(group)
        logical = stack.get_logical_id(cast(CfnElement, group.node.default_child))
        self.arns.append(
            f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:log-group:"
            + (name or f"{stack.stack_name}-{logical}-*")
        )
        return group
