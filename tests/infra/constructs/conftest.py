"""Each construct alone, in a bare stack (no cdk-nag, no config beyond the defaults), and the
helpers that read what one synthesizes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, CfnElement, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Template
from constructs import IConstruct

from infra.config import Config, from_context
from infra.constructs.log_groups import LogGroups
from local.cloud import resolve


@pytest.fixture
def stack() -> Stack:
    return Stack(App(), "Bare")


@pytest.fixture(scope="session")
def config() -> Config:
    return from_context({})


def machine(stack: Stack, name: str) -> sfn.StateMachine:
    """A stand-in state machine, for a construct that only needs to point at one."""
    return sfn.StateMachine(
        stack,
        name,
        definition_body=sfn.DefinitionBody.from_chainable(sfn.Pass(stack, f"{name}Start")),
    )


def function(stack: Stack, name: str, role: iam.IRole | None = None) -> lambda_.Function:
    """A stand-in function, for a construct that only needs to point at one."""
    return lambda_.Function(
        stack,
        name,
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler="index.handler",
        code=lambda_.Code.from_inline("def handler(event, context):\n    return None\n"),
        role=role,
    )


# A Powertools layer for a construct alone: any layer version ARN serves.
LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:PowertoolsStandIn:1"


def layer(stack: Stack) -> lambda_.ILayerVersion:
    """A stand-in layer (`Layer`, LAYER_ARN), for a construct whose functions run with one."""
    return lambda_.LayerVersion.from_layer_version_arn(stack, "Layer", LAYER_ARN)


def log_groups(
    stack: Stack, retention: logs.RetentionDays = logs.RetentionDays.ONE_WEEK
) -> LogGroups:
    """The stack's log groups and their key (`Logs`), for a construct that makes log groups."""
    return LogGroups(stack, "Logs", retention=retention)


def log_key(template: dict[str, Any]) -> dict[str, Any]:
    """How a log group of `log_groups` names its key: the key's ARN."""
    [key] = [k for k in resources(template, "AWS::KMS::Key") if k.startswith("LogsKey")]
    return {"Fn::GetAtt": [key, "Arn"]}


def synthesized(stack: Stack) -> dict[str, Any]:
    return dict(Template.from_stack(stack).to_json())


def logical_id(construct: IConstruct) -> str:
    """The logical ID of a construct's resource in its stack's template."""
    resource = construct.node.default_child
    assert isinstance(resource, CfnElement)
    return Stack.of(construct).get_logical_id(resource)


def acknowledged(construct: IConstruct) -> set[str]:
    """The cdk-nag rules acknowledged on `construct` itself."""
    return {
        rule.removeprefix("Annotation::")
        for entry in construct.node.metadata
        if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule in entry.data
    }


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def only(template: dict[str, Any], kind: str, prefix: str = "") -> tuple[str, dict[str, Any]]:
    """The one resource of `kind` whose logical ID starts with `prefix`."""
    [(logical, resource)] = [
        (k, v) for k, v in resources(template, kind).items() if k.startswith(prefix)
    ]
    return logical, resource


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    """Every statement of the policies attached to the role with logical ID `role`."""
    return [
        statement
        for policy in resources(template, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def actions(statement: dict[str, Any]) -> list[str]:
    listed = statement["Action"]
    return [listed] if isinstance(listed, str) else list(listed)


def definition(template: dict[str, Any], logical: str) -> dict[str, Any]:
    """The definition of the state machine `logical`, references replaced by logical IDs."""
    properties = template["Resources"][logical]["Properties"]
    names = {k: k for k in template["Resources"]}
    parsed: dict[str, Any] = json.loads(resolve(properties["DefinitionString"], names))
    return parsed


def every_state(states: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state of a definition's `States`, those inside Maps and Parallels included."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in states.items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(every_state(branch["States"]))
        for inner in ("ItemProcessor", "Iterator"):
            if inner in state:
                found.update(every_state(state[inner]["States"]))
    return found
