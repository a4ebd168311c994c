"""The orchestrator function alone: its handler and runtime, the layer it is given, every setting
the runtime reads and nothing it does not, a role holding exactly what its code calls, and where
an asynchronous invocation that failed every try ends (its on-failure destination)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Template

from backup_orchestrator.contract.settings import Settings
from infra.config import Config, from_context
from infra.constructs.alerts import AlertTopic
from infra.constructs.orchestrator import ORCHESTRATOR_OPSWORKSCM_ACTIONS, Orchestrator, Wiring
from infra.constructs.storage import Storage
from local.cloud import resolve
from tests.infra.constructs.conftest import (
    LAYER_ARN,
    acknowledged,
    layer,
    log_groups,
    logical_id,
    machine,
    only,
    statements,
    synthesized,
)
from tests.infra.test_permissions import physical
from tests.infra.test_policies import Request, decide

# The orchestrator's role as the evaluator's principal.
ROLE = {"AWS": "arn:aws:iam::123456789012:role/orchestrator"}


def build(stack: Stack, config: Config) -> Orchestrator:
    return Orchestrator(
        stack,
        config=config,
        wiring=Wiring(
            alerts=AlertTopic(stack, "Alerts", email=None),
            storage=Storage(stack),
            tracker=machine(stack, "Tracker"),
            drill=machine(stack, "Drill"),
            layer=layer(stack),
            drill_service_role_arn="arn:aws:iam::123456789012:role/service",
            drill_instance_profile_arn="arn:aws:iam::123456789012:instance-profile/ec2",
            retry_prefix="Bare-retry",
        ),
        log_groups=log_groups(stack),
    )


def function_of(stack: Stack) -> dict[str, Any]:
    [function] = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    return dict(function)


def test_the_function_runs_the_orchestrator_handler(stack: Stack, config: Config) -> None:
    build(stack, config)
    properties = function_of(stack)["Properties"]

    assert properties["Handler"] == "backup_orchestrator.handlers.orchestrator.lambda_handler"
    assert properties["Runtime"] == "python3.14"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["Timeout"] == config.lambda_timeout_seconds


def test_the_function_runs_with_the_layer_it_is_given(stack: Stack, config: Config) -> None:
    build(stack, config)

    assert function_of(stack)["Properties"]["Layers"] == [LAYER_ARN]


def test_every_variable_it_is_given_is_a_setting_the_runtime_reads(
    stack: Stack, config: Config
) -> None:
    build(stack, config)
    given = set(function_of(stack)["Properties"]["Environment"]["Variables"])
    read = {field.alias for field in Settings.model_fields.values()}
    # Powertools' own: the service name in every log line and metric, the namespace, the level.
    powertools = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}

    # RETRY_ROLE_ARN comes with the schedule (scheduling.py), CENTRAL_ALERT_TOPIC_ARN with the
    # estate's monitoring account (infra/estate/member.py): the settings not given here.
    assert given - powertools == read - {
        "RETRY_ROLE_ARN",
        "OPSWORKSCM_RATE",
        "CENTRAL_ALERT_TOPIC_ARN",
    }


def test_the_role_holds_only_the_service_actions_the_code_calls(
    stack: Stack, config: Config
) -> None:
    orchestrator = build(stack, config)
    policies = Template.from_stack(stack).find_resources("AWS::IAM::Policy")
    logical = stack.get_logical_id(orchestrator.role.node.default_child)  # type: ignore[arg-type]
    [policy] = [p for p in policies.values() if p["Properties"]["Roles"] == [{"Ref": logical}]]
    listed = policy["Properties"]["PolicyDocument"]["Statement"]
    statements = {s.get("Sid", ""): s for s in listed}

    assert sorted(statements["OpsWorksCM"]["Action"]) == sorted(ORCHESTRATOR_OPSWORKSCM_ACTIONS)
    assert statements["OpsWorksCM"]["Resource"] == "*"
    assert {
        a for s in statements.values() for a in _actions(s) if a.startswith("opsworks-cm:")
    } == set(ORCHESTRATOR_OPSWORKSCM_ACTIONS)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_a_failed_asynchronous_invocation_ends_in_the_dead_letter_queue_with_its_error(
    stack: Stack, config: Config
) -> None:
    orchestrator = build(stack, config)
    template = synthesized(stack)
    queue, _ = only(template, "AWS::SQS::Queue", "DeadLetters")
    _, invoke = only(template, "AWS::Lambda::EventInvokeConfig")
    function = template["Resources"][logical_id(orchestrator.function)]["Properties"]

    assert invoke["Properties"] == {
        "FunctionName": {"Ref": logical_id(orchestrator.function)},
        "Qualifier": "$LATEST",
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": 3600,
        # A record of the invocation with the error that ended it, not the bare event.
        "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue, "Arn"]}}},
    }
    # One place, once: no dead-letter configuration sends the event there a second time.
    assert "DeadLetterConfig" not in function


@pytest.mark.parametrize(
    ("action", "queue", "decision"),
    [
        ("sqs:SendMessage", "DeadLetters", "Allow"),
        ("sqs:ReceiveMessage", "DeadLetters", "ImplicitDeny"),
        ("sqs:SendMessage", "AlertsUndelivered", "ImplicitDeny"),
    ],
)
def test_the_role_lambda_sends_the_record_as_may_send_it_there_and_only_there(
    stack: Stack, config: Config, action: str, queue: str, decision: str
) -> None:
    orchestrator = build(stack, config)
    template = synthesized(stack)
    names = physical(template)
    held = [
        {**statement, "Principal": ROLE}
        for statement in resolve(statements(template, logical_id(orchestrator.role)), names)
    ]
    target = names[only(template, "AWS::SQS::Queue", queue)[0]]

    assert decide(held, Request(ROLE, action, target)) == decision


@pytest.mark.parametrize(
    ("reserved", "concurrency"),
    [("1", set()), ("0", {"NIST.800.53.R5-LambdaConcurrency", "HIPAA.Security-LambdaConcurrency"})],
)
def test_the_function_says_why_it_has_no_dead_letter_queue_nor_vpc_and_when_no_reservation(
    stack: Stack, reserved: str, concurrency: set[str]
) -> None:
    orchestrator = build(stack, from_context({"reservedConcurrency": reserved}))

    assert acknowledged(orchestrator.function) == {
        "Serverless-LambdaDLQ",
        "NIST.800.53.R5-LambdaDLQ",
        "HIPAA.Security-LambdaDLQ",
        "NIST.800.53.R5-LambdaInsideVPC",
        "HIPAA.Security-LambdaInsideVPC",
        "PCI.DSS.321-LambdaInsideVPC",
        *concurrency,
    }
