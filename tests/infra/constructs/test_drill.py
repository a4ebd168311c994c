"""The restore drill alone, by its outward contract: a logged, traced Standard state machine with
the time limit and log settings it is given, in its own log group; it alerts through the topic
it is given, records each drill as the history table's item `drill#<server>` (what the runtime
and `owcm-backup status` read back) with PutItem alone. It calls OpsWorks CM only through its
own function, which holds exactly the actions it calls, runs with the layer it is given, and
passes the roles it is told to pass, to OpsWorks CM only, and no other.

Its states are not asserted here (the reviewed definition is, in test_definition.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns

from backup_orchestrator.aws.history import DRILL_PREFIX
from backup_orchestrator.contract.limits import RETRIED
from infra.constructs.drill import (
    CALL_TIMEOUT_SECONDS,
    DRILL_OPSWORKSCM_ACTIONS,
    HANDLER,
    Drill,
)
from infra.constructs.task_function import HANG_MARGIN_SECONDS
from tests.infra.constructs.conftest import (
    LAYER_ARN,
    actions,
    definition,
    every_state,
    layer,
    log_groups,
    log_key,
    logical_id,
    only,
    resources,
    statements,
    synthesized,
)

ROLES = [
    "arn:aws:iam::123456789012:role/cm-service",
    "arn:aws:iam::123456789012:role/cm-ec2",
]


def build(
    stack: Stack,
    *,
    timeout_seconds: int = 5 * 3600,
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    log_level: str = "ERROR",
) -> Drill:
    """The drill, with a stand-in topic (`Topic`) and history table (`History`)."""
    return Drill(
        stack,
        "Drill",
        topic=sns.Topic(stack, "Topic"),
        history=dynamodb.TableV2(
            stack,
            "History",
            partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        ),
        layer=layer(stack),
        timeout=Duration.seconds(timeout_seconds),
        log_groups=log_groups(stack, log_retention),
        log_level=log_level,
    )


def stand_in(template: dict[str, Any], kind: str) -> str:
    logical, _ = only(template, kind)
    return logical


def role_statements(drill: Drill, template: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of the state machine's role."""
    return statements(template, logical_id(drill.state_machine.role))


def function_statements(drill: Drill, template: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of its function's role."""
    return statements(template, logical_id(drill.calls.role))


def states(drill: Drill, template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return every_state(definition(template, logical_id(drill.state_machine))["States"])


def test_it_is_a_standard_traced_state_machine(stack: Stack) -> None:
    drill = build(stack)
    logical, machine = only(synthesized(stack), "AWS::StepFunctions::StateMachine")

    assert logical == logical_id(drill.state_machine)
    assert machine["Properties"]["StateMachineType"] == "STANDARD"
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


@pytest.mark.parametrize("seconds", [5 * 3600, 18_900])
def test_its_time_limit_is_the_one_given(stack: Stack, seconds: int) -> None:
    drill = build(stack, timeout_seconds=seconds)
    template = synthesized(stack)

    assert definition(template, logical_id(drill.state_machine))["TimeoutSeconds"] == seconds


@pytest.mark.parametrize(
    ("retention", "days", "level"),
    [(logs.RetentionDays.ONE_MONTH, 30, "ERROR"), (logs.RetentionDays.ONE_YEAR, 365, "ALL")],
)
def test_it_logs_to_its_own_group_at_the_level_and_retention_given(
    stack: Stack, retention: logs.RetentionDays, days: int, level: str
) -> None:
    drill = build(stack, log_retention=retention, log_level=level)
    template = synthesized(stack)
    group = logical_id(drill.log_group)
    log_group = template["Resources"][group]
    _, machine = only(template, "AWS::StepFunctions::StateMachine")

    assert set(resources(template, "AWS::Logs::LogGroup")) == {
        group,
        logical_id(drill.calls.log_group),
    }
    assert log_group["Properties"] == {
        "LogGroupName": "/aws/vendedlogs/states/Bare-Drill",
        "RetentionInDays": days,
        "KmsKeyId": log_key(template),
    }
    assert machine["Properties"]["LoggingConfiguration"] == {
        "Destinations": [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [group, "Arn"]}}}
        ],
        "IncludeExecutionData": True,
        "Level": level,
    }


def test_it_alerts_through_the_topic_given_and_no_other(stack: Stack) -> None:
    drill = build(stack)
    template = synthesized(stack)
    topic = stand_in(template, "AWS::SNS::Topic")
    publishing = [s for s in role_statements(drill, template) if "sns:Publish" in actions(s)]
    publishes = [
        s
        for s in states(drill, template).values()
        if s.get("Resource", "").endswith(":sns:publish")
    ]

    assert publishing == [{"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic}}]
    assert publishes
    assert {s["Parameters"]["TopicArn"] for s in publishes} == {topic}


def test_it_may_only_put_items_in_the_history_table(stack: Stack) -> None:
    drill = build(stack)
    template = synthesized(stack)
    table = stand_in(template, "AWS::DynamoDB::GlobalTable")
    on_tables = [
        s
        for s in role_statements(drill, template)
        if any(a.startswith("dynamodb:") for a in actions(s))
    ]

    assert on_tables == [
        {
            "Action": "dynamodb:PutItem",
            "Effect": "Allow",
            "Resource": {
                "Fn::Join": [
                    "",
                    [
                        "arn:",
                        {"Ref": "AWS::Partition"},
                        ":dynamodb:",
                        {"Ref": "AWS::Region"},
                        ":",
                        {"Ref": "AWS::AccountId"},
                        ":table/",
                        {"Ref": table},
                    ],
                ]
            },
        }
    ]
    # Its function touches no table.
    assert not [
        s
        for s in function_statements(drill, template)
        if any(a.startswith("dynamodb:") for a in actions(s))
    ]


def test_it_records_each_drill_as_the_item_the_runtime_reads(stack: Stack) -> None:
    drill = build(stack)
    template = synthesized(stack)
    table = stand_in(template, "AWS::DynamoDB::GlobalTable")
    [put] = [
        s
        for s in states(drill, template).values()
        if s.get("Resource", "").endswith(":dynamodb:putItem")
    ]
    item = put["Parameters"]["Item"]

    assert put["Parameters"]["TableName"] == table
    assert item["id"] == {"S.$": f"States.Format('{DRILL_PREFIX}{{}}', $.sourceServer)"}
    # What backup_orchestrator.aws.history reads back, each as the type it reads it as; and the
    # table's time to live.
    assert {name: next(iter(value)) for name, value in item.items()} == {
        "id": "S.$",
        "result": "S.$",
        "startedAt": "S.$",
        "seconds": "N.$",
        "backupId": "S.$",
        "backupAgeSeconds": "N.$",
        "drillServer": "S.$",
        "cleanupConfirmed": "BOOL.$",
        "line": "S.$",
        "execution": "S.$",
        "expiration": "N.$",
    }


def passing(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in listed if "iam:PassRole" in actions(s)]


def test_it_passes_no_role_until_told(stack: Stack) -> None:
    drill = build(stack)
    template = synthesized(stack)

    assert passing(role_statements(drill, template)) == []
    assert passing(function_statements(drill, template)) == []


def test_its_function_passes_the_roles_it_is_told_to_opsworks_cm_only(stack: Stack) -> None:
    drill = build(stack)
    drill.may_pass(ROLES)
    template = synthesized(stack)

    # CreateServer is the function's call: the state machine itself passes none.
    assert passing(role_statements(drill, template)) == []
    assert passing(function_statements(drill, template)) == [
        {
            "Sid": "PassDrillRoles",
            "Action": "iam:PassRole",
            "Effect": "Allow",
            "Resource": ROLES,
            "Condition": {"StringEquals": {"iam:PassedToService": "opsworks-cm.amazonaws.com"}},
        }
    ]


def test_no_action_of_its_roles_is_a_wildcard(stack: Stack) -> None:
    drill = build(stack)
    drill.may_pass(ROLES)
    template = synthesized(stack)
    for listed in (role_statements(drill, template), function_statements(drill, template)):
        granted = {a for s in listed for a in actions(s)}

        assert not [a for a in granted if "*" in a]
        assert not [a for a in granted if a.startswith(("sqs:", "kms:"))]


def test_the_log_group_keeps_the_logical_id_deployed_stacks_know(stack: Stack) -> None:
    drill = build(stack)

    # The same path in the stack: a new ID would replace the group (and its logs).
    assert logical_id(drill.log_group) == "DrillLogs1D13E7D5"
    assert logical_id(drill.calls.log_group) == "DrillCallsLogsB4095326"
    assert logical_id(drill.calls.function) == "DrillCallsFunction872D2948"


def test_its_function_calls_with_the_layer_given_in_its_own_log_group(stack: Stack) -> None:
    drill = build(stack)
    template = synthesized(stack)
    [(logical, function)] = resources(template, "AWS::Lambda::Function").items()
    properties = function["Properties"]

    assert logical == logical_id(drill.calls.function)
    assert properties["Handler"] == HANDLER == "backup_orchestrator.handlers.drill.lambda_handler"
    assert properties["Layers"] == [LAYER_ARN]
    assert properties["Timeout"] == CALL_TIMEOUT_SECONDS
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": logical_id(drill.calls.log_group)}
    assert properties["Role"] == {"Fn::GetAtt": [logical_id(drill.calls.role), "Arn"]}


def test_its_function_holds_exactly_the_opsworks_cm_actions_it_calls(stack: Stack) -> None:
    drill = build(stack)
    drill.may_pass(ROLES)
    granted = {a for s in function_statements(drill, synthesized(stack)) for a in actions(s)}

    assert sorted(DRILL_OPSWORKSCM_ACTIONS) == [
        "opsworks-cm:CreateServer",
        "opsworks-cm:DeleteServer",
        "opsworks-cm:DescribeAccountAttributes",
        "opsworks-cm:DescribeServers",
        "opsworks-cm:ListTagsForResource",
    ]
    assert granted == {
        *DRILL_OPSWORKSCM_ACTIONS,
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        "iam:PassRole",
    }


def test_the_state_machine_calls_no_opsworks_cm_action_and_invokes_only_its_function(
    stack: Stack,
) -> None:
    drill = build(stack)
    template = synthesized(stack)
    function = logical_id(drill.calls.function)
    listed = role_statements(drill, template)

    assert not [a for s in listed for a in actions(s) if a.startswith("opsworks-cm:")]
    assert [s for s in listed if "lambda:InvokeFunction" in actions(s)] == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [
                {"Fn::GetAtt": [function, "Arn"]},
                {"Fn::Join": ["", [{"Fn::GetAtt": [function, "Arn"]}, ":*"]]},
            ],
        }
    ]


def test_every_call_asks_its_function_retried_only_on_what_can_pass(stack: Stack) -> None:
    drill = build(stack)
    template = synthesized(stack)
    invokes = {
        n: s
        for n, s in states(drill, template).items()
        if s.get("Resource", "").endswith(":lambda:invoke")
    }

    assert len(invokes) == 8
    for name, state in invokes.items():
        assert state["Parameters"]["FunctionName"] == logical_id(drill.calls.function), name
        assert [rule["ErrorEquals"] for rule in state["Retry"]] == [list(RETRIED)], name
        assert state["TimeoutSeconds"] == CALL_TIMEOUT_SECONDS + HANG_MARGIN_SECONDS, name
