"""The log groups alone: each kept for the retention given, deleted with the stack, encrypted with
one rotating customer-managed key, whose policy lets CloudWatch Logs in the stack's region use it
for these log groups only (asked of the project's IAM evaluator, as KMS would be asked)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.constructs.log_groups import ENCRYPTION_CONTEXT, LogGroups
from local.cloud import ACCOUNT, REGION, resolve
from tests.infra.constructs.conftest import log_groups, logical_id, only, resources, synthesized
from tests.infra.test_policies import Request, decide

KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
LOGS = {"Service": f"logs.{REGION}.amazonaws.com"}


def build(stack: Stack) -> tuple[LogGroups, logs.LogGroup, logs.LogGroup]:
    """The log groups of a bare stack: one CloudFormation names, in a construct of its own
    (`Thing/Logs`), and one named `/aws/vendedlogs/states/Bare-Thing`."""
    groups = log_groups(stack, logs.RetentionDays.ONE_MONTH)
    unnamed = groups.create(Construct(stack, "Thing"), "Logs")
    named = groups.create(stack, "Named", name="/aws/vendedlogs/states/Bare-Thing")
    return groups, unnamed, named


def key_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The key's policy, resolved as in the stack's account and region."""
    key, resource = only(template, "AWS::KMS::Key")
    statements: list[dict[str, Any]] = resolve(
        resource["Properties"]["KeyPolicy"]["Statement"], {key: KEY_ARN}
    )
    return statements


def logs_using_the_key(group_arn: str, principal: dict[str, str] = LOGS) -> Request:
    """CloudWatch Logs encrypting or decrypting the events of the log group `group_arn`."""
    return Request(principal, "kms:GenerateDataKey", KEY_ARN, {ENCRYPTION_CONTEXT: group_arn})


def group_arn(name: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}"


def test_each_group_keeps_its_logs_for_the_retention_encrypted_with_the_key(stack: Stack) -> None:
    groups, unnamed, named = build(stack)
    template = synthesized(stack)
    key = logical_id(groups.key)

    assert set(resources(template, "AWS::Logs::LogGroup")) == {
        logical_id(unnamed),
        logical_id(named),
    }
    for group in (unnamed, named):
        resource = template["Resources"][logical_id(group)]
        assert resource["Properties"]["RetentionInDays"] == 30
        assert resource["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Delete", "Delete")
    assert template["Resources"][key]["Properties"]["EnableKeyRotation"] is True


def test_the_key_names_each_group_by_the_arn_its_logs_are_encrypted_under(stack: Stack) -> None:
    _, unnamed, _ = build(stack)
    [for_logs] = [s for s in key_statements(synthesized(stack)) if s["Principal"] == LOGS]

    assert for_logs["Condition"] == {
        "ArnLike": {
            ENCRYPTION_CONTEXT: [
                # CloudFormation names a log group `<stack>-<logical ID>-<random suffix>`.
                group_arn(f"Bare-{logical_id(unnamed)}-*"),
                group_arn("/aws/vendedlogs/states/Bare-Thing"),
            ]
        }
    }


@pytest.mark.parametrize(
    "name",
    ["Bare-{unnamed}-1A2B3C4D5E6F", "/aws/vendedlogs/states/Bare-Thing"],
    ids=["the group CloudFormation names", "the named group"],
)
@pytest.mark.parametrize("action", ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey"])
def test_cloudwatch_logs_may_use_the_key_for_these_groups(
    stack: Stack, name: str, action: str
) -> None:
    _, unnamed, _ = build(stack)
    arn = group_arn(name.format(unnamed=logical_id(unnamed)))
    request = Request(LOGS, action, KEY_ARN, {ENCRYPTION_CONTEXT: arn})

    assert decide(key_statements(synthesized(stack)), request) == "Allow"


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(logs_using_the_key(group_arn("another-group")), id="another log group"),
        pytest.param(
            logs_using_the_key(group_arn("Bare-SomethingElse-1A2B3C4D5E6F")),
            id="another group of the stack's name",
        ),
        pytest.param(
            logs_using_the_key(
                group_arn("/aws/vendedlogs/states/Bare-Thing"),
                {"Service": "logs.eu-west-1.amazonaws.com"},
            ),
            id="CloudWatch Logs of another region",
        ),
        pytest.param(
            Request(LOGS, "kms:GenerateDataKey", KEY_ARN, {}), id="without a log group's context"
        ),
    ],
)
def test_cloudwatch_logs_may_not_use_the_key_for_anything_else(
    stack: Stack, request_: Request
) -> None:
    build(stack)

    assert decide(key_statements(synthesized(stack)), request_) == "ImplicitDeny"
