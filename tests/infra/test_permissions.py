"""The synthesized template's permissions: each role has exactly the actions it uses, on the
resources it uses, and passes roles only where it must."""

from __future__ import annotations

import json
from typing import Any

from infra.constructs.orchestrator import ORCHESTRATOR_OPSWORKSCM_ACTIONS
from local.cloud import PSEUDO, resolve
from tests.support.stack import machine, only, resources


def actions_of(template_json: dict[str, Any], role_logical_id: str) -> set[str]:
    found: set[str] = set()
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        roles = policy["Properties"]["Roles"]
        if {"Ref": role_logical_id} not in roles:
            continue
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            found.update([listed] if isinstance(listed, str) else listed)
    return found


def role_of(template_json: dict[str, Any], kind: str) -> str:
    """The role of the only resource of `kind`, or of the state machine `kind` (Tracker,
    Drill)."""
    if kind.startswith("AWS::"):
        _, resource = only(template_json, kind)
    else:
        _, resource = machine(template_json, kind)
    role = resource["Properties"].get("RoleArn") or resource["Properties"].get("Role")
    return str(role["Fn::GetAtt"][0])


def statements_of(template_json: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_orchestrator_role_has_exactly_the_actions_it_uses(template_json: dict[str, Any]) -> None:
    role = role_of(template_json, "AWS::Lambda::Function")

    assert actions_of(template_json, role) == {
        *ORCHESTRATOR_OPSWORKSCM_ACTIONS,
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "states:StartExecution",
        "dynamodb:DeleteItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        # Compliance: the history of the last runs, and the alert to the encrypted topic.
        "dynamodb:Scan",
        "dynamodb:BatchWriteItem",
        "sns:Publish",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        # The slot's retries of busy servers: one-time schedules that run as the schedule's role.
        "scheduler:CreateSchedule",
        "iam:PassRole",
        # Restore drills: start the due ones, one per server at a time (DeleteServer, for a
        # leftover drill server, is among the OpsWorks CM actions).
        "states:ListExecutions",
    }


def test_the_function_schedules_retries_only_with_its_prefix_and_role(
    template_json: dict[str, Any],
) -> None:
    role = role_of(template_json, "AWS::Lambda::Function")
    statements = {
        st["Action"]: st
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for st in policy["Properties"]["PolicyDocument"]["Statement"]
        if isinstance(st["Action"], str)
    }

    schedules = json.dumps(statements["scheduler:CreateSchedule"]["Resource"])
    assert "schedule/default/OpsWorksCMBackup-retry-*" in schedules
    passing = statements["iam:PassRole"]
    assert passing["Resource"]["Fn::GetAtt"][0].startswith("SchedulerRole")
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}
    }


def test_the_function_starts_and_lists_only_the_drill_executions(
    template_json: dict[str, Any],
) -> None:
    drill, _ = machine(template_json, "Drill")
    [starting] = [
        st
        for st in statements_of(template_json, role_of(template_json, "AWS::Lambda::Function"))
        if "states:ListExecutions" in st["Action"]
    ]

    assert sorted(starting["Action"]) == ["states:ListExecutions", "states:StartExecution"]
    assert starting["Resource"] == {"Ref": drill}


# What both state machines need besides their own work: metrics, the alert (to the encrypted
# topic), log delivery and tracing.
STATE_MACHINE_PLUMBING = {
    "cloudwatch:PutMetricData",
    "sns:Publish",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def test_tracker_role_has_exactly_the_actions_it_uses(template_json: dict[str, Any]) -> None:
    role = role_of(template_json, "Tracker")

    assert actions_of(template_json, role) == {
        "opsworks-cm:DescribeBackups",
        "opsworks-cm:DeleteBackup",
        *STATE_MACHINE_PLUMBING,
    }


def test_drill_role_has_exactly_the_actions_it_uses(template_json: dict[str, Any]) -> None:
    role = role_of(template_json, "Drill")

    assert actions_of(template_json, role) == {
        "opsworks-cm:CreateServer",
        "opsworks-cm:DeleteServer",
        "opsworks-cm:DescribeServers",
        # The slot check right before CreateServer: one slot stays free for the operator.
        "opsworks-cm:DescribeAccountAttributes",
        # Its server's tags: it follows and deletes only a server tagged with its execution.
        "opsworks-cm:ListTagsForResource",
        "iam:PassRole",
        # The result, as the item drill#<server> of the history table.
        "dynamodb:PutItem",
        *STATE_MACHINE_PLUMBING,
    }


def test_the_drill_passes_only_the_standard_roles_and_only_to_opsworks_cm(
    template_json: dict[str, Any],
) -> None:
    [passing] = [
        st
        for st in statements_of(template_json, role_of(template_json, "Drill"))
        if st["Action"] == "iam:PassRole"
    ]

    assert sorted(resolve(passing["Resource"], PSEUDO)) == [
        "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-ec2-role",
        "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-service-role",
    ]
    assert passing["Condition"] == {
        "StringEquals": {"iam:PassedToService": "opsworks-cm.amazonaws.com"}
    }


def test_the_drill_records_to_the_history_table(template_json: dict[str, Any]) -> None:
    history = next(
        k for k in resources(template_json, "AWS::DynamoDB::GlobalTable") if k.startswith("History")
    )
    [putting] = [
        st
        for st in statements_of(template_json, role_of(template_json, "Drill"))
        if st["Action"] == "dynamodb:PutItem"
    ]

    assert {"Ref": history} in putting["Resource"]["Fn::Join"][1]


def test_no_role_has_a_wildcard_action(template_json: dict[str, Any]) -> None:
    for policy in resources(template_json, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            listed = statement["Action"]
            for action in [listed] if isinstance(listed, str) else listed:
                assert not action.endswith(":*"), action
                assert action != "*"


def test_opsworkscm_statements_use_the_right_prefix(template_json: dict[str, Any]) -> None:
    text = json.dumps(template_json)

    assert "opsworkscm:" not in text.replace("aws-sdk:opsworkscm:", "")
