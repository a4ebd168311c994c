"""cdk-nag findings acknowledged where they live, each with the reason that holds for it."""

from __future__ import annotations

from typing import cast

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct

NO_RESOURCE_LEVEL = (
    "OpsWorks CM supports no resource-level permissions or condition keys, so its actions can "
    "only be granted on Resource '*'; the statement lists only the actions the code calls."
)


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge cdk-nag's finding `rule` on `scope`, for `reason`."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def arn_of(construct: IConstruct) -> str:
    """How cdk-nag writes the ARN of a construct's resource in a finding id."""
    resource = cast(CfnElement, construct.node.default_child)
    return f"<{Stack.of(construct).get_logical_id(resource)}.Arn>"
