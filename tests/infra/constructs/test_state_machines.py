"""What the state machines are built from, alone: the logged, traced Standard state machine and
its own log group; the retry a task rides out the faults it is told of with; the best-effort metric;
and what both state machines' roles share (the alert topic's key, the acknowledged findings)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from backup_orchestrator.contract.limits import RETRIED, TASK_RETRIES
from infra.constructs.state_machines import (
    METRIC_NAMESPACE,
    logged_state_machine,
    may_alert,
    metric,
    retry,
)
from tests.infra.constructs.conftest import (
    acknowledged,
    actions,
    definition,
    log_groups,
    logical_id,
    only,
    statements,
    synthesized,
)

SERVICE = {"Name": "service", "Value": "opsworks-cm-backup"}


def logged(
    stack: Stack, start: sfn.IChainable | None = None, *, log_level: str = "ERROR"
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A logged state machine in its own construct `Thing`, from `start` or a Pass."""
    scope = Construct(stack, "Thing")
    return logged_state_machine(
        scope,
        name="Thing",
        start=start or sfn.Pass(scope, "Begin"),
        timeout=Duration.minutes(42),
        log_groups=log_groups(stack),
        log_level=log_level,
        comment="Does the thing.",
    )


def machine_of(template: dict[str, Any]) -> dict[str, Any]:
    """The one state machine's definition."""
    logical, _ = only(template, "AWS::StepFunctions::StateMachine")
    return definition(template, logical)


def role_statements(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of the one state machine's role."""
    logical, _ = only(template, "AWS::IAM::Role")
    return statements(template, logical)


def test_the_log_group_is_its_own_under_vended_logs_with_the_retention(stack: Stack) -> None:
    _, log_group = logged(stack)
    template = synthesized(stack)
    logical, group = only(template, "AWS::Logs::LogGroup")
    key, _ = only(template, "AWS::KMS::Key")

    assert logical == logical_id(log_group)
    # Under /aws/vendedlogs/ Step Functions needs no Logs resource policy (whose size is capped).
    assert group["Properties"] == {
        "LogGroupName": "/aws/vendedlogs/states/Bare-Thing",
        "RetentionInDays": 7,
        "KmsKeyId": {"Fn::GetAtt": [key, "Arn"]},
    }
    assert (group["DeletionPolicy"], group["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_the_machine_is_standard_traced_and_logs_to_its_group(stack: Stack) -> None:
    logged(stack)
    template = synthesized(stack)
    group, _ = only(template, "AWS::Logs::LogGroup")
    _, machine = only(template, "AWS::StepFunctions::StateMachine")
    properties = machine["Properties"]

    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"] == {
        "Destinations": [
            {"CloudWatchLogsLogGroup": {"LogGroupArn": {"Fn::GetAtt": [group, "Arn"]}}}
        ],
        "IncludeExecutionData": True,
        "Level": "ERROR",
    }


def test_the_machine_has_its_time_limit_and_comment(stack: Stack) -> None:
    logged(stack)
    parsed = machine_of(synthesized(stack))

    assert parsed["TimeoutSeconds"] == 42 * 60
    assert parsed["Comment"] == "Does the thing."


@pytest.mark.parametrize(
    ("level", "execution_data"),
    [("ALL", True), ("ERROR", True), ("FATAL", True), ("OFF", False)],
)
def test_the_log_level_is_the_one_given_with_execution_data_unless_off(
    stack: Stack, level: str, execution_data: bool
) -> None:
    logged(stack, log_level=level)
    _, machine = only(synthesized(stack), "AWS::StepFunctions::StateMachine")
    configuration = machine["Properties"]["LoggingConfiguration"]

    assert (configuration["Level"], configuration["IncludeExecutionData"]) == (
        level,
        execution_data,
    )


def call(scope: Construct, name: str = "Call") -> tasks.CallAwsService:
    return tasks.CallAwsService(
        scope,
        name,
        service="sqs",
        action="listQueues",
        iam_resources=["*"],
        parameters={},
    )


def test_retry_rides_out_the_errors_given_with_a_jittered_backoff(stack: Stack) -> None:
    scope = Construct(stack, "Scope")
    logged(stack, retry(call(scope), list(RETRIED)))
    [state] = machine_of(synthesized(stack))["States"].values()

    assert state["Retry"] == [
        {
            "ErrorEquals": list(RETRIED),
            "IntervalSeconds": 2,
            "MaxAttempts": TASK_RETRIES,
            "BackoffRate": 2,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL",
        }
    ]


def test_retry_has_no_errors_of_its_own() -> None:
    # Each task names what it is retried on: no default list of errors to fall back to.
    errors = inspect.signature(retry).parameters["errors"]

    assert errors.default is inspect.Parameter.empty


def test_retry_takes_the_errors_it_is_given(stack: Stack) -> None:
    scope = Construct(stack, "Scope")
    logged(stack, retry(call(scope), ["States.TaskFailed"]))
    [state] = machine_of(synthesized(stack))["States"].values()

    [rule] = state["Retry"]
    assert rule["ErrorEquals"] == ["States.TaskFailed"]
    assert rule["MaxAttempts"] == TASK_RETRIES


@pytest.mark.parametrize(
    ("value", "unit", "field"),
    [(1, "Count", {"Value": 1}), ("$.elapsed", "Seconds", {"Value.$": "$.elapsed"})],
)
def test_a_metric_is_one_data_point_a_count_or_seconds_read_from_a_path(
    stack: Stack, value: Any, unit: str, field: dict[str, Any]
) -> None:
    scope = Construct(stack, "Scope")
    logged(stack, metric(scope, "Record", "Things", value))
    record = machine_of(synthesized(stack))["States"]["Record"]

    assert record["Resource"] == "arn:aws:states:::aws-sdk:cloudwatch:putMetricData"
    assert record["Parameters"] == {
        "Namespace": METRIC_NAMESPACE,
        "MetricData": [{"MetricName": "Things", "Unit": unit, "Dimensions": [SERVICE], **field}],
    }


def test_a_metric_per_server_is_published_twice_once_with_the_server(stack: Stack) -> None:
    scope = Construct(stack, "Scope")
    logged(stack, metric(scope, "Record", "Drills", 1, per_server="$.sourceServer"))
    data = machine_of(synthesized(stack))["States"]["Record"]["Parameters"]["MetricData"]

    assert data == [
        {"MetricName": "Drills", "Unit": "Count", "Value": 1, "Dimensions": [SERVICE]},
        {
            "MetricName": "Drills",
            "Unit": "Count",
            "Value": 1,
            "Dimensions": [SERVICE, {"Name": "ServerName", "Value.$": "$.sourceServer"}],
        },
    ]


def test_a_metric_never_fails_what_it_counts(stack: Stack) -> None:
    scope = Construct(stack, "Scope")
    logged(stack, metric(scope, "Record", "Things", 1))
    states = machine_of(synthesized(stack))["States"]
    record = states["Record"]

    # The input goes on unchanged, recorded or not.
    assert record["ResultPath"] is None
    assert [rule["ErrorEquals"] for rule in record["Retry"]] == [["States.TaskFailed"]]
    assert record["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "RecordSkipped"}
    ]
    assert states["RecordSkipped"]["Type"] == "Pass"


def test_a_metric_may_only_put_metric_data(stack: Stack) -> None:
    scope = Construct(stack, "Scope")
    logged(stack, metric(scope, "Record", "Things", 1))

    listed = role_statements(synthesized(stack))
    on_cloudwatch = [s for s in listed if any(a.startswith("cloudwatch:") for a in actions(s))]
    assert on_cloudwatch == [
        {"Action": "cloudwatch:PutMetricData", "Effect": "Allow", "Resource": "*"}
    ]


def test_may_alert_grants_the_alert_topics_key_and_no_more(stack: Stack) -> None:
    machine, _ = logged(stack)
    key = kms.Key(stack, "Key")
    may_alert(machine, key.key_arn, "ERROR")
    logical = logical_id(key)

    [granted] = [s for s in role_statements(synthesized(stack)) if s.get("Sid") == "AlertTopicKey"]
    assert granted == {
        "Sid": "AlertTopicKey",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [logical, "Arn"]},
    }


@pytest.mark.parametrize(("level", "on_machine"), [("ERROR", {"AwsSolutions-SF1"}), ("ALL", set())])
def test_may_alert_acknowledges_partial_logging_only_when_not_logging_all(
    stack: Stack, level: str, on_machine: set[str]
) -> None:
    machine, _ = logged(stack, log_level=level)
    may_alert(machine, "arn:aws:kms:us-east-1:123456789012:key/any", level)

    assert acknowledged(machine) == on_machine
    assert acknowledged(machine.role) == {
        "AwsSolutions-IAM5[Resource::*]",
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "HIPAA.Security-IAMNoInlinePolicy",
        "PCI.DSS.321-IAMNoInlinePolicy",
    }
