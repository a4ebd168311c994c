"""The monitoring account's stack in one region: the CloudWatch cross-account observability
sink the member accounts link to, the central alert topic and its key, a dashboard with one row
per member account-region, and central alarms on each member's metrics (`central_dashboard`).

Members publish to the central topic by its fixed name (CENTRAL_TOPIC): their alarms, as the
CloudWatch service, and their orchestrator role. The topic and key policies let those in and no
one else; an account-wide grant is never given (each member's root is a principal only with the
condition that the caller is that member's orchestrator role)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aws_cdk import CfnOutput, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_oam as oam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra.config import Config
from infra.config.estate import (
    CENTRAL_TOPIC,
    Deployment,
    Organization,
    orchestrator_role_arn,
)
from infra.constructs.alerts import alarms_of_this_account, undelivered_queue
from infra.constructs.monitoring import delivery_alarm
from infra.estate.central_dashboard import central_alarms, central_dashboard

# What a member may share with the monitoring account through the sink: metrics and log groups.
SINK_RESOURCE_TYPES = ("AWS::CloudWatch::Metric", "AWS::Logs::LogGroup")
SINK_NAME = "opsworks-cm-backup"
# The central key's alias: a member role's identity policy can name the key by it.
CENTRAL_KEY_ALIAS = f"alias/{CENTRAL_TOPIC}"
SNS_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]


def org_paths(organization: Organization) -> list[str]:
    """`aws:PrincipalOrgPaths` / `aws:SourceOrgPaths` patterns for an account anywhere under one
    of the organization's units (OU IDs are unique: no organization ID needed)."""
    return [f"*/{unit}/*" for unit in organization.units]


@dataclass(frozen=True)
class Publisher:
    """Who may publish to the central topic (and use its key through SNS): principals and the
    conditions that narrow them, and whether it is the CloudWatch service (an alarm)."""

    sid: str
    principals: list[iam.IPrincipal]
    conditions: dict[str, Any]
    alarm: bool


def publishers(
    members: Sequence[Deployment], organization: Organization | None, partition: str, region: str
) -> list[Publisher]:
    """The member accounts' alarms and orchestrator roles, listed and in the organization; and
    the monitoring account's own (central) alarms."""
    cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
    found = [Publisher("CentralAlarms", [cloudwatch], alarms_of_this_account(), alarm=True)]
    if members:
        accounts = list(dict.fromkeys(m.account for m in members))
        found.append(
            Publisher(
                "MemberAlarms",
                [cloudwatch],
                {
                    "StringEquals": {"aws:SourceAccount": accounts},
                    "ArnLike": {
                        "aws:SourceArn": [
                            f"arn:{partition}:cloudwatch:{region}:{a}:alarm:*" for a in accounts
                        ]
                    },
                },
                alarm=True,
            )
        )
        found.append(
            Publisher(
                "MemberOrchestrators",
                [iam.AccountPrincipal(a) for a in accounts],
                {
                    "ArnEquals": {
                        "aws:PrincipalArn": [
                            orchestrator_role_arn(a, region, partition) for a in accounts
                        ]
                    }
                },
                alarm=False,
            )
        )
    if organization:
        paths = org_paths(organization)
        found.append(
            Publisher(
                "OrganizationAlarms",
                [cloudwatch],
                {
                    "ForAnyValue:StringLike": {"aws:SourceOrgPaths": paths},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:*:alarm:*"},
                },
                alarm=True,
            )
        )
        found.append(
            Publisher(
                "OrganizationOrchestrators",
                [iam.AnyPrincipal()],
                {
                    "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": paths},
                    "ArnLike": {"aws:PrincipalArn": orchestrator_role_arn("*", region, partition)},
                },
                alarm=False,
            )
        )
    return found


def sink_policy(members: Sequence[Deployment], organization: Organization | None) -> dict[str, Any]:
    """Only the member accounts (or the organization's units) may link, and only metrics and
    log groups."""
    actions = ["oam:CreateLink", "oam:UpdateLink"]
    types = {"ForAllValues:StringEquals": {"oam:ResourceTypes": list(SINK_RESOURCE_TYPES)}}
    statements: list[dict[str, Any]] = []
    accounts = list(dict.fromkeys(m.account for m in members))
    if accounts:
        statements.append(
            {
                "Sid": "MemberAccountsLink",
                "Effect": "Allow",
                "Principal": {"AWS": accounts},
                "Action": actions,
                "Resource": "*",
                "Condition": types,
            }
        )
    if organization:
        statements.append(
            {
                "Sid": "OrganizationUnitsLink",
                "Effect": "Allow",
                "Principal": "*",
                "Action": actions,
                "Resource": "*",
                "Condition": {
                    **types,
                    "ForAnyValue:StringLike": {"aws:PrincipalOrgPaths": org_paths(organization)},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


class CentralStack(Stack):
    """The monitoring account's stack in one region: the CloudWatch cross-account observability
    sink, the central alert topic and its key, a dashboard with one row per member
    account-region, and central alarms."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        members: Sequence[Deployment],
        organization: Organization | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.members = tuple(members)
        self.organization = organization
        self.sink = oam.CfnSink(
            self, "Sink", name=SINK_NAME, policy=sink_policy(self.members, organization)
        )
        allowed = publishers(self.members, organization, self.partition, self.region)
        self.key = self._build_key(allowed)
        self.topic = self._build_topic(allowed)
        self.undelivered = undelivered_queue(self, self.topic, "the central alert topic's")
        if config.alert_email:
            self.topic.add_subscription(
                subscriptions.EmailSubscription(
                    config.alert_email, dead_letter_queue=self.undelivered
                )
            )
        self.alarms = central_alarms(self, self.members, cw_actions.SnsAction(self.topic))
        self.alerts_undelivered = delivery_alarm(
            self,
            self.undelivered,
            "An alert could not be delivered to a subscription of the central alert topic (a "
            "bounced address, an endpoint that failed every retry); it waits in the central "
            "stack's dead-letter queue for 14 days. This alarm notifies nobody: the way it "
            "would is the way that failed.",
            "the central dashboard",
        )
        self.dashboard = central_dashboard(
            self, self.members, [*self.alarms, self.alerts_undelivered]
        )
        # Each member's context key `monitoringSinks` takes this ARN (docs/estate.md).
        CfnOutput(self, "SinkArn", value=self.sink.attr_arn)
        CfnOutput(self, "CentralTopicArn", value=self.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.dashboard.dashboard_name)

    def _build_key(self, allowed: list[Publisher]) -> kms.Key:
        """The topic's key: SNS uses it for whoever may publish, and for no one else."""
        key = kms.Key(
            self,
            "Key",
            description="Encrypts the OpsWorks CM backup central alert topic",
            alias=CENTRAL_KEY_ALIAS,
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        via_sns = {"StringEquals": {"kms:ViaService": f"sns.{self.region}.amazonaws.com"}}
        for publisher in allowed:
            conditions = dict(publisher.conditions)
            if not publisher.alarm:
                # A member's role uses the key only through SNS, publishing to the topic.
                conditions["StringEquals"] = {
                    **conditions.get("StringEquals", {}),
                    **via_sns["StringEquals"],
                }
            key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"{publisher.sid}UseTheKey",
                    principals=publisher.principals,
                    actions=SNS_KEY_ACTIONS,
                    resources=["*"],
                    conditions=conditions,
                )
            )
        return key

    def _build_topic(self, allowed: list[Publisher]) -> sns.Topic:
        """The central topic, by its fixed name; TLS only (enforce_ssl)."""
        topic = sns.Topic(
            self,
            "Topic",
            topic_name=CENTRAL_TOPIC,
            display_name="OpsWorks CM backup central alerts",
            master_key=self.key,
            enforce_ssl=True,
        )
        for publisher in allowed:
            topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"{publisher.sid}Publish",
                    principals=publisher.principals,
                    actions=["sns:Publish"],
                    resources=[topic.topic_arn],
                    conditions=publisher.conditions,
                )
            )
        return topic
