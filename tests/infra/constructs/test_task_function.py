"""The function a state machine makes its OpsWorks CM calls through, alone: the handler and the
layer it is given, a role of its own with exactly the `opsworks-cm:` actions it is given (and its
log group's and X-Ray's), a log group of its own; and the task that invokes it, retried only on
what can pass (contract RETRIED) and timed out a margin after the function's own timeout."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from backup_orchestrator.contract.limits import RETRIED, TASK_RETRIES
from infra.constructs.task_function import HANG_MARGIN_SECONDS, TaskFunction
from tests.infra.constructs.conftest import (
    LAYER_ARN,
    acknowledged,
    actions,
    definition,
    layer,
    log_groups,
    log_key,
    logical_id,
    only,
    resources,
    statements,
    synthesized,
)

ACTIONS = ["opsworks-cm:DescribeServers", "opsworks-cm:CreateServer"]


def build(stack: Stack, *, timeout_seconds: int = 100) -> TaskFunction:
    return TaskFunction(
        stack,
        "Calls",
        handler="backup_orchestrator.handlers.drill.lambda_handler",
        description="Calls things",
        actions=ACTIONS,
        layer=layer(stack),
        timeout_seconds=timeout_seconds,
        log_groups=log_groups(stack),
    )


def machine_with(stack: Stack, calls: TaskFunction, **task: Any) -> sfn.StateMachine:
    """A state machine whose one state is `calls`' task `Ask`."""
    scope = Construct(stack, "Machine")
    payload: dict[str, object] = {
        "action": "status",
        "serverName": sfn.JsonPath.string_at("$.name"),
    }
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(
            calls.task(scope, "Ask", payload, **task)
        ),
    )
    calls.invoked_by(machine)
    return machine


def the_state(stack: Stack) -> dict[str, Any]:
    template = synthesized(stack)
    logical, _ = only(template, "AWS::StepFunctions::StateMachine")
    [state] = definition(template, logical)["States"].values()
    return dict(state)


def test_the_function_runs_the_handler_with_the_layer_given_in_its_own_group(
    stack: Stack,
) -> None:
    calls = build(stack, timeout_seconds=77)
    template = synthesized(stack)
    logical, function = only(template, "AWS::Lambda::Function")
    group, log_group = only(template, "AWS::Logs::LogGroup")
    properties = function["Properties"]

    assert logical == logical_id(calls.function)
    assert group == logical_id(calls.log_group)
    assert properties["Handler"] == "backup_orchestrator.handlers.drill.lambda_handler"
    assert properties["Layers"] == [LAYER_ARN]
    assert (properties["Runtime"], properties["Architectures"]) == ("python3.14", ["arm64"])
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["Timeout"] == 77
    assert properties["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": group}}
    assert properties["Role"] == {"Fn::GetAtt": [logical_id(calls.role), "Arn"]}
    assert log_group["Properties"] == {"RetentionInDays": 7, "KmsKeyId": log_key(template)}
    # The runtime finds the carried OpsWorks CM model there.
    assert properties["Environment"]["Variables"]["AWS_DATA_PATH"] == "/var/task/models"


def test_its_role_holds_exactly_the_actions_given_and_its_logs_and_traces(stack: Stack) -> None:
    calls = build(stack)
    template = synthesized(stack)
    group = logical_id(calls.log_group)
    listed = statements(template, logical_id(calls.role))

    assert {a for s in listed for a in actions(s)} == {
        *ACTIONS,
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }
    [service] = [s for s in listed if s.get("Sid") == "OpsWorksCM"]
    assert (sorted(actions(service)), service["Resource"]) == (sorted(ACTIONS), "*")
    [logging] = [s for s in listed if s.get("Sid") == "Logs"]
    assert logging["Resource"] == [
        {"Fn::GetAtt": [group, "Arn"]},
        {"Fn::Join": ["", [{"Fn::GetAtt": [group, "Arn"]}, ":*"]]},
    ]
    [(_, role)] = resources(template, "AWS::IAM::Role").items()
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ]


@pytest.mark.parametrize("timeout_seconds", [60, 120, 180])
def test_its_task_is_retried_only_on_what_can_pass_and_times_out_after_the_function(
    stack: Stack, timeout_seconds: int
) -> None:
    calls = build(stack, timeout_seconds=timeout_seconds)
    machine_with(stack, calls, result_path="$.server")
    state = the_state(stack)

    assert state["Resource"] == "arn:aws:states:::lambda:invoke"
    assert state["Parameters"] == {
        "FunctionName": logical_id(calls.function),
        "Payload": {"action": "status", "serverName.$": "$.name"},
    }
    assert state["ResultPath"] == "$.server"
    # One rule, the contract's: not CDK's default Lambda retry besides it.
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
    assert state["TimeoutSeconds"] == timeout_seconds + HANG_MARGIN_SECONDS
    assert HANG_MARGIN_SECONDS > 0
    assert "States.Timeout" in RETRIED
    assert not [e for e in RETRIED if e.startswith("OpsWorksCm.")]


def test_the_task_passes_its_selectors_through(stack: Stack) -> None:
    calls = build(stack)
    machine_with(
        stack,
        calls,
        result_selector={"ours.$": "$.Payload.ours"},
        result_path="$.owner",
    )
    state = the_state(stack)

    assert (state["ResultSelector"], state["ResultPath"]) == (
        {"ours.$": "$.Payload.ours"},
        "$.owner",
    )


def test_the_invoking_machine_may_invoke_this_function_and_its_versions_only(
    stack: Stack,
) -> None:
    calls = build(stack)
    machine = machine_with(stack, calls)
    template = synthesized(stack)
    function = logical_id(calls.function)

    assert statements(template, logical_id(machine.role))[0] == {
        "Action": "lambda:InvokeFunction",
        "Effect": "Allow",
        "Resource": [
            {"Fn::GetAtt": [function, "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": [function, "Arn"]}, ":*"]]},
        ],
    }
    assert [a for s in statements(template, logical_id(machine.role)) for a in actions(s)] == [
        "lambda:InvokeFunction"
    ]


def test_only_its_own_function_and_log_streams_are_acknowledged_as_wildcards(
    stack: Stack,
) -> None:
    calls = build(stack)
    machine = machine_with(stack, calls)

    assert "AwsSolutions-IAM5[Resource::*]" in acknowledged(calls.role)
    assert [r for r in acknowledged(machine.role) if r.startswith("AwsSolutions-IAM5")] == [
        f"AwsSolutions-IAM5[Resource::<{logical_id(calls.function)}.Arn>:*]"
    ]


def test_a_function_only_a_state_machine_calls_says_why_no_dead_letters_reservation_or_vpc(
    stack: Stack,
) -> None:
    calls = build(stack)

    assert acknowledged(calls.function) == {
        # Invoked synchronously: its errors are the state machine's to retry and catch.
        "Serverless-LambdaDLQ",
        "NIST.800.53.R5-LambdaDLQ",
        "HIPAA.Security-LambdaDLQ",
        "NIST.800.53.R5-LambdaConcurrency",
        "HIPAA.Security-LambdaConcurrency",
        "NIST.800.53.R5-LambdaInsideVPC",
        "HIPAA.Security-LambdaInsideVPC",
        "PCI.DSS.321-LambdaInsideVPC",
    }
    assert {r for r in acknowledged(calls.role) if "IAMNoInlinePolicy" in r} == {
        "NIST.800.53.R5-IAMNoInlinePolicy",
        "HIPAA.Security-IAMNoInlinePolicy",
        "PCI.DSS.321-IAMNoInlinePolicy",
    }
