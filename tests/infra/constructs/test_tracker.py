"""The tracker alone, by its outward contract: a logged, traced Standard state machine with the
time limit and log settings it is given, in its own log group, that alerts through the topic it
is given and nowhere else, and touches no table and passes no role.

Its states are not asserted here (the reviewed definition is, in test_definition.py)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns

from infra.constructs.tracker import Tracker
from tests.infra.constructs.conftest import (
    actions,
    definition,
    every_state,
    logical_id,
    only,
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
        timeout=Duration.seconds(timeout_seconds),
        log_retention=log_retention,
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
    group, log_group = only(template, "AWS::Logs::LogGroup")
    _, machine = only(template, "AWS::StepFunctions::StateMachine")

    assert group == logical_id(tracker.log_group)
    assert log_group["Properties"] == {
        "LogGroupName": "/aws/vendedlogs/states/Bare-Tracker",
        "RetentionInDays": days,
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


def test_the_log_group_keeps_the_logical_id_deployed_stacks_know(stack: Stack) -> None:
    tracker, _, _ = build(stack)

    # The same path in the stack: a new ID would replace the group (and its logs).
    assert logical_id(tracker.log_group) == "TrackerLogs6F324061"
