"""What a member stack adds for the estate (docs/estate.md): the read-only role the monitoring
account's `owcm-backup status` assumes; with a monitoring account, the CloudWatch cross-account
observability link to its sink in the region, and every alarm also sent to its central alert
topic, which the orchestrator function may publish to as well.

A single stack (no estate keys) adds none of this: its template does not change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from aws_cdk import Annotations, Aws, Duration, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_oam as oam
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.config.estate import (
    central_stack_name,
    central_topic_arn,
    orchestrator_role_name,
    read_only_role_name,
)
from infra.constructs.monitoring import Monitoring, product_metric
from infra.constructs.nag import NO_RESOURCE_LEVEL, acknowledge, acknowledge_rule, inline_policy
from infra.stack import OrchestratorBody

# Exactly what `owcm-backup status --deployments` reads in a member account-region: the servers,
# their tags, the backups and the account's limits (cli/owcm_backup/estate.py). OpsWorks CM has
# no resource-level permissions: these take "*".
STATUS_OPSWORKSCM_ACTIONS = (
    "opsworks-cm:DescribeAccountAttributes",
    "opsworks-cm:DescribeBackups",
    "opsworks-cm:DescribeServers",
    "opsworks-cm:ListTagsForResource",
)
# What the member shares with the monitoring account's sink.
LINKED_RESOURCE_TYPES = ("AWS::CloudWatch::Metric", "AWS::Logs::LogGroup")
LINK_LABEL = "$AccountName"
CENTRAL_TOPIC_VARIABLE = "CENTRAL_ALERT_TOPIC_ARN"
# The function's count of alerts it could not copy to the central topic (run/metrics.py).
CENTRAL_ALERTS_FAILED = "CentralAlertsFailed"
NO_SINK_WARNING = "owcm-backup:noMonitoringSink"


@dataclass(frozen=True)
class Membership:
    """The member's place in the estate: the monitoring account (None: no central stack, no
    read-only role, no central alerts: the member is the single stack, its orchestrator role
    named per region) and the sink ARN of the central stack of its region (None: not deployed
    yet, or no monitoring account)."""

    monitoring_account: str | None
    sink_arn: str | None = None


@dataclass(frozen=True)
class MemberParts:
    """What of the member stack the estate's additions use."""

    monitoring: Monitoring
    function: lambda_.Function
    role: iam.Role

    @classmethod
    def of(cls, body: OrchestratorBody) -> MemberParts:
        return cls(body.monitoring, body.function, body.orchestrator_role)


class Member(Construct):
    """The estate's additions to a member stack, in `scope` (the stack)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, membership: Membership, parts: MemberParts
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(scope)
        # A concrete region in a deployment's stack; the deploying region (a token) in a StackSet.
        region = stack.region
        self.region = region
        monitoring = membership.monitoring_account
        # The orchestrator's role is named, so the central topic's and key's policies can name it.
        role = cast(iam.CfnRole, parts.role.node.default_child)
        role.role_name = orchestrator_role_name(region)
        self.read_only_role: iam.Role | None = None
        self.link: oam.CfnLink | None = None
        if monitoring is None:
            return
        # Only the monitoring account reads the estate (owcm-backup status --deployments).
        self.read_only_role = self._build_read_only_role(scope, monitoring, region, parts)
        central = central_topic_arn(monitoring, region, Aws.PARTITION)
        self._alert_central(scope, central, monitoring, region, parts)
        if membership.sink_arn is None:
            Annotations.of(stack).add_warning_v2(
                NO_SINK_WARNING,
                f"No monitoringSinks entry for {region}: this member is deployed without its "
                "CloudWatch cross-account observability link. Deploy the central stack "
                f"{central_stack_name(region)} in the monitoring account {monitoring} first, "
                f"then set monitoringSinks.{region} to its sink ARN and deploy this stack again.",
            )
        else:
            self.link = oam.CfnLink(
                scope,
                "MonitoringLink",
                resource_types=list(LINKED_RESOURCE_TYPES),
                sink_identifier=membership.sink_arn,
                label_template=LINK_LABEL,
            )

    def _build_read_only_role(
        self, scope: Construct, trusted: str, region: str, parts: MemberParts
    ) -> iam.Role:
        """The role `owcm-backup status` assumes from the trusted account: its reads, no more."""
        role = iam.Role(
            scope,
            "ReadOnlyRole",
            role_name=read_only_role_name(region),
            description="owcm-backup status from the monitoring account: reads only",
            assumed_by=iam.AccountPrincipal(trusted).with_conditions(
                {"StringEquals": {"aws:PrincipalAccount": trusted}}
            ),
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="OpsWorksCMReads", actions=list(STATUS_OPSWORKSCM_ACTIONS), resources=["*"]
            )
        )
        acknowledge(role, "AwsSolutions-IAM5[Resource::*]", NO_RESOURCE_LEVEL)
        acknowledge_rule(
            role,
            "IAMNoInlinePolicy",
            inline_policy("the reads of `owcm-backup status`: OpsWorks CM's descriptions and tags"),
        )
        return role

    def _alert_central(
        self, scope: Construct, central: str, monitoring: str, region: str, parts: MemberParts
    ) -> None:
        """Every alarm also notifies the central topic; the function may publish there too
        (CENTRAL_ALERT_TOPIC_ARN), with the monitoring account's key, through SNS only."""
        action = cw_actions.SnsAction(sns.Topic.from_topic_arn(scope, "CentralAlerts", central))
        for alarm in parts.monitoring.alarms:
            alarm.add_alarm_action(action)
        # After the loop: the central way is the one that failed, so this one stays local.
        parts.monitoring.alarm(
            "CentralAlertsFailed",
            product_metric(CENTRAL_ALERTS_FAILED, period=Duration.minutes(5)),
            "An alert reached this stack's topic but not the monitoring account's central topic "
            "(the run's log has the error): the central view misses it.",
        )
        undelivered = cast(cw.CfnAlarm, parts.monitoring.alerts_undelivered.node.default_child)
        undelivered.alarm_description = (
            "An alert could not be delivered to a subscription of the alert topic (a bounced "
            "address, an endpoint that failed every retry); it waits in the queue of stack "
            "output AlertDeadLettersUrl for 14 days. This alarm notifies the monitoring "
            "account's central topic only: the local topic is the way that failed."
        )
        parts.function.add_environment(CENTRAL_TOPIC_VARIABLE, central)
        key = f"arn:{Aws.PARTITION}:kms:{region}:{monitoring}:key/*"
        parts.role.add_to_policy(
            iam.PolicyStatement(sid="CentralAlert", actions=["sns:Publish"], resources=[central])
        )
        parts.role.add_to_policy(
            iam.PolicyStatement(
                sid="CentralAlertKey",
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=[key],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
            )
        )
        reason = (
            "The central alert topic's key is made in the monitoring account; its ID cannot be "
            "known to this stack (no cross-account reference). The grant is limited to that "
            "account's keys in this region, used through SNS only (kms:ViaService), and the "
            "key's own policy names this role."
        )
        for finding in (
            "Action::kms:GenerateDataKey*",
            f"Resource::arn:<AWS::Partition>:kms:{_nag(region)}:{monitoring}:key/*",
        ):
            acknowledge(parts.role, f"AwsSolutions-IAM5[{finding}]", reason)


def _nag(value: str) -> str:
    """How cdk-nag writes a value in a finding id: the deploying region as <AWS::Region>."""
    return "<AWS::Region>" if value == Aws.REGION else value
