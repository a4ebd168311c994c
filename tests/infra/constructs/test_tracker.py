"""The tracker alone, by its outward contract: a logged, traced Standard state machine with the
time limit and log settings it is given, in its own log group, that alerts through the topic it
is given and nowhere else, and touches no table and passes no role; it calls OpsWorks CM only
through its own function (the poller), which holds exactly the actions it calls and runs with
the layer it is given.

Its states are not asserted here (the reviewed definition is, in test_definition.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns

from backup_orchestrator.contract.limits import RETRIED
from infra.constructs.task_function import HANG_MARGIN_SECONDS
from infra.constructs.tracker import (
    HANDLER,
    POLL_TIMEOUT_SECONDS,
    TRACKER_OPSWORKSCM_ACTIONS,
    Tracker,
)
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


def build(
    stack: Stack,
    *,
    timeout_seconds: int = 3 * 3600,
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    log_level: str = "ERROR",
) -> tuple[Tracker, str, dict[str, Any]]:
    """The tracker, the logical ID of its stand-in topic, and the template."""
    topic = sns.Topic(stack, "Topic")
    tracker = Tracker(
        stack,
        "Tracker",
        topic=topic,
        layer=layer(stack),
        timeout=Duration.seconds(timeout_seconds),
        log_groups=log_groups(stack, log_retention),
        log_level=log_level,
    )
    return tracker, logical_id(topic), synthesized(stack)


def test_it_is_a_standard_traced_state_machine(stack: Stack) -> None:
    tracker, _, template = build(stack)
    logical, machine = only(template, "AWS::StepFunctions::StateMachine")

    assert logical == logical_id(tracker.state_machine)
    assert machine["Properties"]["StateMachineType"] == "STANDARD"
    assert machine["Properties"]["TracingConfiguration"] == {"Enabled": True}


@pytest.mark.parametrize("seconds", [3 * 3600, 7 * 3600 + 60])
def test_its_time_limit_is_the_one_given(stack: Stack, seconds: int) -> None:
    tracker, _, template = build(stack, timeout_seconds=seconds)

    assert definition(template, logical_id(tracker.state_machine))["TimeoutSeconds"] == seconds


@pytest.mark.parametrize(
    ("retention", "days", "level"),
    [(logs.RetentionDays.ONE_MONTH, 30, "ERROR"), (logs.RetentionDays.ONE_YEAR, 365, "ALL")],
)
def test_it_logs_to_its_own_group_at_the_level_and_retention_given(
    stack: Stack, retention: logs.RetentionDays, days: int, level: str
) -> None:
    tracker, _, template = build(stack, log_retention=retention, log_level=level)
    group = logical_id(tracker.log_group)
    log_group = template["Resources"][group]
    _, machine = only(template, "AWS::StepFunctions::StateMachine")

    assert set(resources(template, "AWS::Logs::LogGroup")) == {
        group,
        logical_id(tracker.poller.log_group),
    }
    assert log_group["Properties"] == {
        "LogGroupName": "/aws/vendedlogs/states/Bare-Tracker",
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
    tracker, topic, template = build(stack)
    role = logical_id(tracker.state_machine.role)
    publishing = [s for s in statements(template, role) if "sns:Publish" in actions(s)]
    states = every_state(definition(template, logical_id(tracker.state_machine))["States"])
    publishes = [s for s in states.values() if s.get("Resource", "").endswith(":sns:publish")]

    assert publishing == [{"Action": "sns:Publish", "Effect": "Allow", "Resource": {"Ref": topic}}]
    assert publishes
    assert {s["Parameters"]["TopicArn"] for s in publishes} == {topic}


def test_it_touches_no_table_and_passes_no_role(stack: Stack) -> None:
    tracker, _, template = build(stack)
    granted = {
        action
        for statement in statements(template, logical_id(tracker.state_machine.role))
        for action in actions(statement)
    }

    assert not {a for a in granted if a.startswith(("dynamodb:", "iam:", "sqs:", "kms:"))}
    assert "*" not in granted
    poller = {
        action
        for statement in statements(template, logical_id(tracker.poller.role))
        for action in actions(statement)
    }
    assert not {a for a in poller if a.startswith(("dynamodb:", "iam:", "sqs:", "kms:", "sns:"))}


def test_the_log_group_keeps_the_logical_id_deployed_stacks_know(stack: Stack) -> None:
    tracker, _, _ = build(stack)

    # The same path in the stack: a new ID would replace the group (and its logs).
    assert logical_id(tracker.log_group) == "TrackerLogs6F324061"
    assert logical_id(tracker.poller.log_group) == "TrackerPollerLogsDE46E671"
    assert logical_id(tracker.poller.function) == "TrackerPollerFunctionCCE36068"


def test_its_function_polls_with_the_layer_given_in_its_own_log_group(stack: Stack) -> None:
    tracker, _, template = build(stack)
    [(logical, function)] = resources(template, "AWS::Lambda::Function").items()
    properties = function["Properties"]

    assert logical == logical_id(tracker.poller.function)
    assert properties["Handler"] == HANDLER == "backup_orchestrator.handlers.tracker.lambda_handler"
    assert properties["Layers"] == [LAYER_ARN]
    assert properties["Timeout"] == POLL_TIMEOUT_SECONDS
    assert properties["LoggingConfig"]["LogGroup"] == {"Ref": logical_id(tracker.poller.log_group)}
    assert properties["Role"] == {"Fn::GetAtt": [logical_id(tracker.poller.role), "Arn"]}


def test_its_function_holds_exactly_the_opsworks_cm_actions_it_calls(stack: Stack) -> None:
    tracker, _, template = build(stack)
    granted = {
        action
        for statement in statements(template, logical_id(tracker.poller.role))
        for action in actions(statement)
    }

    assert {a for a in granted if a.startswith("opsworks-cm:")} == {
        "opsworks-cm:DescribeBackups",
        "opsworks-cm:DeleteBackup",
    }
    assert sorted(TRACKER_OPSWORKSCM_ACTIONS) == [
        "opsworks-cm:DeleteBackup",
        "opsworks-cm:DescribeBackups",
    ]
    assert granted == {
        *TRACKER_OPSWORKSCM_ACTIONS,
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }


def test_the_state_machine_calls_no_opsworks_cm_action_and_invokes_only_its_function(
    stack: Stack,
) -> None:
    tracker, _, template = build(stack)
    function = logical_id(tracker.poller.function)
    listed = statements(template, logical_id(tracker.state_machine.role))
    invoking = [s for s in listed if "lambda:InvokeFunction" in actions(s)]

    assert not [a for s in listed for a in actions(s) if a.startswith("opsworks-cm:")]
    assert invoking == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [
                {"Fn::GetAtt": [function, "Arn"]},
                {"Fn::Join": ["", [{"Fn::GetAtt": [function, "Arn"]}, ":*"]]},
            ],
        }
    ]


def test_each_poll_asks_its_function_retried_only_on_what_can_pass(stack: Stack) -> None:
    tracker, _, template = build(stack)
    states = every_state(definition(template, logical_id(tracker.state_machine))["States"])
    invokes = {n: s for n, s in states.items() if s.get("Resource", "").endswith(":lambda:invoke")}

    assert set(invokes) == {"Poll"}
    poll = invokes["Poll"]
    assert poll["Parameters"]["FunctionName"] == logical_id(tracker.poller.function)
    assert [rule["ErrorEquals"] for rule in poll["Retry"]] == [list(RETRIED)]
    assert poll["TimeoutSeconds"] == POLL_TIMEOUT_SECONDS + HANG_MARGIN_SECONDS
