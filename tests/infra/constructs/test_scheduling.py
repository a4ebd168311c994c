"""The schedule alone: it invokes the orchestrator at every slot of the configured expression in
its time zone, as a role only the scheduler of this account may assume and that may do nothing
but invoke the function and dead-letter; and the function may schedule its own retries, under
the stack's retry prefix only, passing that same role to the scheduler only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs

from infra.config import Config, from_context
from infra.constructs.scheduling import BackupSchedule, retry_prefix
from tests.infra.constructs.conftest import (
    actions,
    function,
    logical_id,
    only,
    statements,
    synthesized,
)


@dataclass(frozen=True)
class Built:
    schedule: BackupSchedule
    function: str
    function_role: str
    queue: str
    template: dict[str, Any]


def build(stack: Stack, config: Config) -> Built:
    """The schedule, with a stand-in function, its role and a queue."""
    role = iam.Role(stack, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    target = function(stack, "Function", role)
    queue = sqs.Queue(stack, "Queue")
    schedule = BackupSchedule(
        stack, config=config, function=target, function_role=role, dead_letters=queue
    )
    return Built(
        schedule=schedule,
        function=logical_id(target),
        function_role=logical_id(role),
        queue=logical_id(queue),
        template=synthesized(stack),
    )


@pytest.mark.parametrize(
    ("context", "expression", "zone"),
    [
        ({}, "cron(0 2 * * ? *)", "UTC"),
        (
            {"schedule": "cron(30 1 ? * MON-FRI *)", "timeZone": "Europe/London"},
            "cron(30 1 ? * MON-FRI *)",
            "Europe/London",
        ),
    ],
)
def test_the_schedule_runs_the_configured_expression_in_its_time_zone(
    stack: Stack, context: dict[str, str], expression: str, zone: str
) -> None:
    built = build(stack, from_context(context))
    _, schedule = only(built.template, "AWS::Scheduler::Schedule")
    properties = schedule["Properties"]

    assert properties["ScheduleExpression"] == expression
    assert properties["ScheduleExpressionTimezone"] == zone
    # Every slot on time: a flexible window would move the run (and its idempotency slot).
    assert properties["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert properties["State"] == "ENABLED"
    # The account's default group: a group of the stack's own would outlive `cdk destroy`.
    assert properties.get("GroupName", "default") == "default"


def test_the_target_is_the_function_with_retries_and_a_dead_letter_queue(
    stack: Stack, config: Config
) -> None:
    built = build(stack, config)
    _, schedule = only(built.template, "AWS::Scheduler::Schedule")
    role = logical_id(built.schedule.role)

    assert schedule["Properties"]["Target"] == {
        "Arn": {"Fn::GetAtt": [built.function, "Arn"]},
        "RoleArn": {"Fn::GetAtt": [role, "Arn"]},
        "Input": '{"source":"schedule","scheduledTime":"<aws.scheduler.scheduled-time>"}',
        "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 6 * 3600},
        "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [built.queue, "Arn"]}},
    }


def test_only_the_scheduler_of_this_account_assumes_the_role(stack: Stack, config: Config) -> None:
    built = build(stack, config)
    role = built.template["Resources"][logical_id(built.schedule.role)]

    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"]


def test_the_role_only_invokes_the_function_and_dead_letters(stack: Stack, config: Config) -> None:
    built = build(stack, config)
    arn = {"Fn::GetAtt": [built.function, "Arn"]}

    assert statements(built.template, logical_id(built.schedule.role)) == [
        {
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": [arn, {"Fn::Join": ["", [arn, ":*"]]}],
        },
        {
            "Action": "sqs:SendMessage",
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [built.queue, "Arn"]},
        },
    ]


def test_the_function_schedules_retries_only_under_the_prefix(stack: Stack, config: Config) -> None:
    built = build(stack, config)
    granted = statements(built.template, built.function_role)
    by_sid = {s.get("Sid"): s for s in granted}
    role = logical_id(built.schedule.role)

    assert by_sid["ScheduleRetries"] == {
        "Sid": "ScheduleRetries",
        "Action": "scheduler:CreateSchedule",
        "Effect": "Allow",
        "Resource": {
            "Fn::Join": [
                "",
                [
                    "arn:",
                    {"Ref": "AWS::Partition"},
                    ":scheduler:",
                    {"Ref": "AWS::Region"},
                    ":",
                    {"Ref": "AWS::AccountId"},
                    ":schedule/default/Bare-retry-*",
                ],
            ]
        },
    }
    # The role it passes is the schedule's own, and only to the scheduler.
    assert by_sid["PassRetryRole"] == {
        "Sid": "PassRetryRole",
        "Action": "iam:PassRole",
        "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [role, "Arn"]},
        "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
    }
    assert [s for s in granted if "iam:PassRole" in actions(s)] == [by_sid["PassRetryRole"]]


def test_the_function_is_told_the_role_its_retries_run_as(stack: Stack, config: Config) -> None:
    built = build(stack, config)
    function = built.template["Resources"][built.function]
    role = logical_id(built.schedule.role)

    assert function["Properties"]["Environment"]["Variables"]["RETRY_ROLE_ARN"] == {
        "Fn::GetAtt": [role, "Arn"]
    }


def test_the_schedule_and_its_role_keep_the_logical_ids_deployed_stacks_know(
    stack: Stack, config: Config
) -> None:
    built = build(stack, config)

    assert only(built.template, "AWS::Scheduler::Schedule")[0] == "Schedule83A77FD1"
    assert logical_id(built.schedule.role) == "SchedulerRole59E73443"


@pytest.mark.parametrize(
    ("stack_name", "prefix"),
    [
        ("Bare", "Bare-retry"),
        ("OpsWorksCMBackup", "OpsWorksCMBackup-retry"),
        # Cut to 30, leaving room in a schedule name's 64 for the run and the try.
        ("OpsWorksCMBackup-Production-EU", "OpsWorksCMBackup-Production-EU"),
    ],
)
def test_the_retry_prefix_is_the_stack_name_cut_to_thirty(stack_name: str, prefix: str) -> None:
    assert retry_prefix(Stack(App(), stack_name)) == prefix
