"""`organizationUnits`: the member stack as a service-managed StackSet, deployed automatically to
every account of the OUs (and to each account that joins them), in each region of the list.

The parent stack (STACK_SET_STACK_NAME) is deployed in the organization's management or
delegated-admin account; it holds the StackSet and copies the member's assets (the function
code) into the buckets `<assetBucketPrefix>-<region>` the member accounts read them from. The
member's template is one for every account-region: what differs is a pseudo parameter
(AWS::AccountId, AWS::Region) or, for the monitoring sink of each region, a mapping.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Annotations, Aws, CfnCondition, CfnMapping, Fn, Stack
from aws_cdk import aws_s3 as s3
from cdk_stacksets import (
    Capability,
    DeploymentType,
    StackSet,
    StackSetStack,
    StackSetTarget,
    StackSetTemplate,
)
from constructs import Construct

from infra.config import Config
from infra.config.estate import STACK_NAME, Organization
from infra.constructs.nag import acknowledge, acknowledge_rule
from infra.estate.member import NO_SINK_WARNING, Member, MemberParts, Membership
from infra.stack import OrchestratorBody

# A region the monitoring account has no sink in yet (monitoringSinks) has this in the mapping.
NO_SINK = "none"


class MemberStackSetStack(StackSetStack):
    """The member stack, the one template every account-region of the StackSet deploys."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        organization: Organization,
        monitoring_account: str | None,
        sinks: dict[str, str],
        asset_buckets: list[s3.IBucket],
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            asset_buckets=asset_buckets,
            asset_bucket_prefix=organization.asset_bucket_prefix,
        )
        linked = [r for r in organization.regions if r in sinks]
        sink: str | None = None
        if monitoring_account and linked:
            mapping = CfnMapping(
                self,
                "MonitoringSinks",
                mapping={r: {"Arn": sinks.get(r, NO_SINK)} for r in organization.regions},
            )
            sink = mapping.find_in_map(Aws.REGION, "Arn")
        self.body = OrchestratorBody(self, config=config)
        member = Member(
            self,
            "Estate",
            membership=Membership(monitoring_account, sink),
            parts=MemberParts.of(self.body),
        )
        if member.link is not None:
            member.link.cfn_options.condition = CfnCondition(
                self,
                "HasMonitoringSink",
                expression=Fn.condition_not(Fn.condition_equals(sink, NO_SINK)),
            )
        unlinked = [r for r in organization.regions if r not in sinks]
        if monitoring_account and linked and unlinked:
            Annotations.of(self).add_warning_v2(
                NO_SINK_WARNING,
                f"No monitoringSinks entry for {', '.join(unlinked)}: the StackSet's stacks there "
                "are deployed without their CloudWatch cross-account observability link. Deploy "
                "the central stack of each region first, then set monitoringSinks.<region>.",
            )


class MemberStackSet(Stack):
    """The StackSet of the member stack, service-managed, to the OUs' accounts, automatically."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        organization: Organization,
        monitoring_account: str | None,
        sinks: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        prefix = organization.asset_bucket_prefix
        buckets = [
            s3.Bucket.from_bucket_name(self, f"Assets-{region}", f"{prefix}-{region}")
            for region in organization.regions
        ]
        self.member = MemberStackSetStack(
            self,
            "Member",
            config=config,
            organization=organization,
            monitoring_account=monitoring_account,
            sinks=sinks,
            asset_buckets=buckets,
        )
        self.stack_set = StackSet(
            self,
            "StackSet",
            stack_set_name=STACK_NAME,
            description="OpsWorks CM scheduled backups, in every account of the OUs",
            target=StackSetTarget.from_organizational_units(
                regions=list(organization.regions),
                organizational_units=list(organization.units),
            ),
            deployment_type=DeploymentType.service_managed(
                auto_deploy_enabled=True, delegated_admin=organization.delegated_admin
            ),
            # The member names its roles (the read-only role, the orchestrator's).
            capabilities=[Capability.NAMED_IAM],
            template=StackSetTemplate.from_stack_set_stack(self.member),
        )
        self._acknowledge_asset_copies(organization)

    def _acknowledge_asset_copies(self, organization: Organization) -> None:
        """The findings on what copies the member's assets into the buckets: CDK's
        BucketDeployment (a singleton function and role, made when the assets are added), which
        this project does not write. Acknowledged on this stack, which holds nothing else that
        has a role or a function, each finding by its exact id."""
        reason = (
            "CDK's BucketDeployment, which copies the member stack's assets (the function code) "
            "into the asset buckets when this stack deploys: its function, role and policy are "
            "CDK's, used only during the deployment, on the bootstrap bucket's objects and the "
            "asset buckets' objects, whose keys are content hashes not known in advance."
        )
        partition = "arn:<AWS::Partition>"
        findings = [
            # Its runtime is the one CDK's release chose, not the newest.
            "L1",
            f"IAM4[Policy::{partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            *(
                f"IAM5[Action::s3:{action}]"
                for action in ("Abort*", "DeleteObject*", "GetBucket*", "GetObject*", "List*")
            ),
            f"IAM5[Resource::{partition}:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-"
            "<AWS::Region>/*]",
            *(
                f"IAM5[Resource::{partition}:s3:::{organization.asset_bucket_prefix}-{region}/*]"
                for region in organization.regions
            ),
        ]
        for finding in findings:
            acknowledge(self, f"AwsSolutions-{finding}", reason)
        for rule in ("LambdaLatestVersion", "LambdaTracing"):
            acknowledge(self, f"Serverless-{rule}", reason)
        for pack in ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321"):
            # The log group of that function: CDK's deployment log lines, no backup data.
            acknowledge(self, f"{pack}-CloudWatchLogGroupEncrypted", reason)
        for rule in ("LambdaDLQ", "LambdaInsideVPC", "LambdaConcurrency", "IAMNoInlinePolicy"):
            acknowledge_rule(self, rule, reason)
