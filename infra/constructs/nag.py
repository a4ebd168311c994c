"""cdk-nag: the rule packs a synth can check the stack against, and findings acknowledged where
they live, each with the reason that holds for it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from cdk_nag import (
    AwsSolutionsChecks,
    HIPAASecurityChecks,
    NagPack,
    NIST80053R5Checks,
    PCIDSS321Checks,
    ServerlessChecks,
)
from constructs import IConstruct

from infra.config import RulePack

# Each pack, and the prefix of its rule ids (`NIST.800.53.R5-LambdaDLQ`).
PACKS: dict[RulePack, tuple[type[NagPack], str]] = {
    RulePack.AWS_SOLUTIONS: (AwsSolutionsChecks, "AwsSolutions"),
    RulePack.SERVERLESS: (ServerlessChecks, "Serverless"),
    RulePack.NIST_800_53_R5: (NIST80053R5Checks, "NIST.800.53.R5"),
    RulePack.HIPAA_SECURITY: (HIPAASecurityChecks, "HIPAA.Security"),
    RulePack.PCI_DSS_321: (PCIDSS321Checks, "PCI.DSS.321"),
}
# The rules findings are acknowledged for beyond AWS Solutions, and the packs that have each.
RULE_PACKS: dict[str, tuple[RulePack, ...]] = {
    "CloudWatchAlarmAction": (RulePack.NIST_800_53_R5, RulePack.HIPAA_SECURITY),
    "IAMNoInlinePolicy": (RulePack.NIST_800_53_R5, RulePack.HIPAA_SECURITY, RulePack.PCI_DSS_321),
    "LambdaConcurrency": (RulePack.NIST_800_53_R5, RulePack.HIPAA_SECURITY),
    "LambdaDLQ": (RulePack.SERVERLESS, RulePack.NIST_800_53_R5, RulePack.HIPAA_SECURITY),
    "LambdaInsideVPC": (RulePack.NIST_800_53_R5, RulePack.HIPAA_SECURITY, RulePack.PCI_DSS_321),
    "SQSRedrivePolicy": (RulePack.SERVERLESS,),
}
NO_RESOURCE_LEVEL = (
    "OpsWorks CM supports no resource-level permissions or condition keys, so its actions can "
    "only be granted on Resource '*'; the statement lists only the actions the code calls."
)


def check(app: IConstruct, packs: Iterable[RulePack]) -> None:
    """Have the synth of `app` check it against each of `packs`: a finding not acknowledged
    fails the synth."""
    Validations.of(app).add_plugins(*(PACKS[pack][0](app) for pack in packs))


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge cdk-nag's finding `rule` on `scope`, for `reason`."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def acknowledge_rule(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge the rule `rule` (`LambdaDLQ`, one of RULE_PACKS) on `scope` in every pack
    that has it, for `reason`: each pack gives the rule its own id."""
    for pack in RULE_PACKS[rule]:
        acknowledge(scope, f"{PACKS[pack][1]}-{rule}", reason)


def no_vpc(calls: str) -> str:
    """Why a function that calls `calls` runs outside a VPC."""
    return (
        f"The function reaches no resource in a VPC: it calls only AWS service endpoints "
        f"({calls}, and CloudWatch Logs and X-Ray through the Lambda runtime). OpsWorks CM, which "
        "reached end of life in 2024, offers no interface VPC endpoint (it is not an AWS "
        "PrivateLink service), so in a VPC the function would still reach it through a NAT "
        "gateway: more cost and one more failure point, and its traffic no more private."
    )


def inline_policy(grants: str) -> str:
    """Why a role whose statements grant `grants` keeps them in CDK's inline policy."""
    return (
        f"This role's permissions ({grants}) are CDK's policy of this role alone: created, "
        "changed and deleted with it, and attachable to no other principal. A managed policy "
        "would be a separate object that other roles or users could be given; for permissions "
        "that belong to one role, the inline policy is the least-privilege form."
    )


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag writes the ARN of a construct's resource in a finding id."""
    resource = cast(CfnElement, construct.node.default_child)
    return f"<{Stack.of(construct).get_logical_id(resource)}.Arn>"
