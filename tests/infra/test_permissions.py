"""The synthesized template's permissions: each role has exactly the actions it uses, on the
resources it uses, and passes roles only where it must.

Three functions call OpsWorks CM (the orchestrator's, the tracker's and the drill's), each with
exactly the `opsworks-cm:` actions its code calls; the state machines call it only through their
own function, and may invoke no other. What a role may do is also asked of the project's IAM
evaluator (test_policies.py), request by request, the way IAM would answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.constructs.drill import DRILL_OPSWORKSCM_ACTIONS
from infra.constructs.orchestrator import ORCHESTRATOR_OPSWORKSCM_ACTIONS
from infra.constructs.tracker import TRACKER_OPSWORKSCM_ACTIONS
from local.cloud import ACCOUNT, PSEUDO, REGION, resolve
from tests.infra.test_policies import Request, decide
from tests.support.stack import FUNCTIONS, lambda_function, machine, only, resources


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
    """The role of the state machine `kind` (Tracker, Drill)."""
    _, resource = machine(template_json, kind)
    return str(resource["Properties"]["RoleArn"]["Fn::GetAtt"][0])


def function_role(template_json: dict[str, Any], owner: str = "Orchestrator") -> str:
    """The role of the function of `owner` (Orchestrator, Tracker, Drill)."""
    _, resource = lambda_function(template_json, owner)
    return str(resource["Properties"]["Role"]["Fn::GetAtt"][0])


def statements_of(template_json: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in resources(template_json, "AWS::IAM::Policy").values()
        if {"Ref": role} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_orchestrator_role_has_exactly_the_actions_it_uses(template_json: dict[str, Any]) -> None:
    role = function_role(template_json)

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


# What each function calls OpsWorks CM for, by the construct that owns it.
OPSWORKSCM_ACTIONS = {
    "Orchestrator": ORCHESTRATOR_OPSWORKSCM_ACTIONS,
    "Tracker": TRACKER_OPSWORKSCM_ACTIONS,
    "Drill": DRILL_OPSWORKSCM_ACTIONS,
}
# What every function needs besides its own work: its own log group and tracing.
FUNCTION_PLUMBING = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "xray:PutTelemetryRecords",
    "xray:PutTraceSegments",
}


def test_the_trackers_function_has_exactly_the_actions_it_uses(
    template_json: dict[str, Any],
) -> None:
    # The account's backups, once a poll, and the deferred deletions.
    assert sorted(TRACKER_OPSWORKSCM_ACTIONS) == [
        "opsworks-cm:DeleteBackup",
        "opsworks-cm:DescribeBackups",
    ]
    assert actions_of(template_json, function_role(template_json, "Tracker")) == {
        *TRACKER_OPSWORKSCM_ACTIONS,
        *FUNCTION_PLUMBING,
    }


def test_the_drills_function_has_exactly_the_actions_it_uses(
    template_json: dict[str, Any],
) -> None:
    assert sorted(DRILL_OPSWORKSCM_ACTIONS) == [
        "opsworks-cm:CreateServer",
        "opsworks-cm:DeleteServer",
        # The slot check right before CreateServer: one slot stays free for the operator.
        "opsworks-cm:DescribeAccountAttributes",
        "opsworks-cm:DescribeServers",
        # Its server's tags: it follows and deletes only a server tagged with its execution.
        "opsworks-cm:ListTagsForResource",
    ]
    assert actions_of(template_json, function_role(template_json, "Drill")) == {
        *DRILL_OPSWORKSCM_ACTIONS,
        *FUNCTION_PLUMBING,
        # The service role and the instance profile's role, in CreateServer.
        "iam:PassRole",
    }


@pytest.mark.parametrize("owner", FUNCTIONS)
def test_each_function_holds_its_opsworks_cm_actions_in_one_statement_on_any_resource(
    template_json: dict[str, Any], owner: str
) -> None:
    # OpsWorks CM has no resource-level permissions: least privilege is the smallest set of
    # actions, which each function gets alone.
    on_opsworks_cm = [
        st
        for st in statements_of(template_json, function_role(template_json, owner))
        if any(a.startswith("opsworks-cm:") for a in _listed(st["Action"]))
    ]

    assert [(sorted(_listed(st["Action"])), st["Resource"]) for st in on_opsworks_cm] == [
        (sorted(OPSWORKSCM_ACTIONS[owner]), "*")
    ]


def test_the_function_schedules_retries_only_with_its_prefix_and_role(
    template_json: dict[str, Any],
) -> None:
    role = function_role(template_json)
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
        for st in statements_of(template_json, function_role(template_json))
        if "states:ListExecutions" in st["Action"]
    ]

    assert sorted(starting["Action"]) == ["states:ListExecutions", "states:StartExecution"]
    assert starting["Resource"] == {"Ref": drill}


# What both state machines need besides their own work: the alert (to the encrypted topic),
# log delivery and tracing, and invoking their own function.
STATE_MACHINE_PLUMBING = {
    "sns:Publish",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "lambda:InvokeFunction",
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

    # Its function records the run's metrics; the state machine itself records none.
    assert actions_of(template_json, role) == STATE_MACHINE_PLUMBING


def test_drill_role_has_exactly_the_actions_it_uses(template_json: dict[str, Any]) -> None:
    role = role_of(template_json, "Drill")

    assert actions_of(template_json, role) == {
        *STATE_MACHINE_PLUMBING,
        # The drill's metrics (RestoreDrillsSucceeded, RestoreDrillSeconds, ...).
        "cloudwatch:PutMetricData",
        # The result, as the item drill#<server> of the history table.
        "dynamodb:PutItem",
    }


def test_the_drill_function_passes_only_the_standard_roles_and_only_to_opsworks_cm(
    template_json: dict[str, Any],
) -> None:
    [passing] = [
        st
        for st in statements_of(template_json, function_role(template_json, "Drill"))
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

    assert "opsworkscm:" not in text
    assert "opsworks-cm:" in text


# --- Asked of the IAM evaluator, request by request -------------------------------------------

OPSWORKS_CM = "opsworks-cm.amazonaws.com"
DRILL_ROLES = (
    f"arn:aws:iam::{ACCOUNT}:role/service-role/aws-opsworks-cm-service-role",
    f"arn:aws:iam::{ACCOUNT}:role/service-role/aws-opsworks-cm-ec2-role",
)


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def physical(template_json: dict[str, Any]) -> dict[str, str]:
    """An ARN for every resource the policies name: the functions by their logical IDs."""
    names: dict[str, str] = {}
    for logical, resource in template_json["Resources"].items():
        service = resource["Type"].split("::")[1].lower()
        names[logical] = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{logical}"
        if resource["Type"] == "AWS::Lambda::Function":
            names[logical] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{logical}"
        if resource["Type"] == "AWS::IAM::Role":
            names[logical] = f"arn:aws:iam::{ACCOUNT}:role/{logical}"
    return names


def arn(template_json: dict[str, Any], logical: str) -> str:
    return physical(template_json)[logical]


def held_by(
    template_json: dict[str, Any], role: str
) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """The role as a principal, and its identity policies' statements as the evaluator reads
    them: resolved, and applying to that principal alone (an identity policy has no Principal:
    it applies to whoever holds it)."""
    principal = {"AWS": arn(template_json, role)}
    statements = [
        {**statement, "Principal": principal}
        for statement in resolve(statements_of(template_json, role), physical(template_json))
    ]
    return principal, statements


def allowed(
    template_json: dict[str, Any], role: str, action: str, resource: str, **context: str
) -> str:
    principal, statements = held_by(template_json, role)
    return decide(statements, Request(principal, action, resource, dict(context)))


def function_arn(template_json: dict[str, Any], owner: str) -> str:
    logical, _ = lambda_function(template_json, owner)
    return arn(template_json, logical)


@pytest.mark.parametrize("kind", ["Tracker", "Drill"])
def test_a_state_machine_may_invoke_its_own_function_and_no_other(
    template_json: dict[str, Any], kind: str
) -> None:
    role = role_of(template_json, kind)
    own = function_arn(template_json, kind)

    assert allowed(template_json, role, "lambda:InvokeFunction", own) == "Allow"
    # Its versions and aliases too (Step Functions' Lambda integration grants both).
    assert allowed(template_json, role, "lambda:InvokeFunction", f"{own}:1") == "Allow"
    for other in set(FUNCTIONS) - {kind}:
        for resource in (
            function_arn(template_json, other),
            f"{function_arn(template_json, other)}:1",
        ):
            assert allowed(template_json, role, "lambda:InvokeFunction", resource) == (
                "ImplicitDeny"
            ), (kind, other)


@pytest.mark.parametrize("kind", ["Tracker", "Drill"])
def test_a_state_machine_may_call_no_opsworks_cm_action(
    template_json: dict[str, Any], kind: str
) -> None:
    role = role_of(template_json, kind)
    every = {
        *ORCHESTRATOR_OPSWORKSCM_ACTIONS,
        *TRACKER_OPSWORKSCM_ACTIONS,
        *DRILL_OPSWORKSCM_ACTIONS,
    }

    assert not [a for a in actions_of(template_json, role) if a.startswith("opsworks-cm:")]
    for action in sorted(every):
        assert allowed(template_json, role, action, "*") == "ImplicitDeny", action


@pytest.mark.parametrize("owner", FUNCTIONS)
def test_each_function_may_call_exactly_its_opsworks_cm_actions(
    template_json: dict[str, Any], owner: str
) -> None:
    role = function_role(template_json, owner)
    every = {
        *ORCHESTRATOR_OPSWORKSCM_ACTIONS,
        *TRACKER_OPSWORKSCM_ACTIONS,
        *DRILL_OPSWORKSCM_ACTIONS,
    }
    server = f"arn:aws:opsworks-cm:{REGION}:{ACCOUNT}:server/chef-a/1234"

    may = {a for a in every if allowed(template_json, role, a, server) == "Allow"}

    assert may == set(OPSWORKSCM_ACTIONS[owner])


def every_role(template_json: dict[str, Any]) -> list[str]:
    return sorted(resources(template_json, "AWS::IAM::Role"))


def test_only_the_drill_function_may_pass_the_drill_roles_and_only_to_opsworks_cm(
    template_json: dict[str, Any],
) -> None:
    drill_function = function_role(template_json, "Drill")
    to_opsworks_cm = {"iam:PassedToService": OPSWORKS_CM}

    passing = {
        role
        for role in every_role(template_json)
        for passed in DRILL_ROLES
        if allowed(template_json, role, "iam:PassRole", passed, **to_opsworks_cm) == "Allow"
    }

    assert passing == {drill_function}
    for passed in DRILL_ROLES:
        assert allowed(template_json, drill_function, "iam:PassRole", passed, **to_opsworks_cm) == (
            "Allow"
        )
        # To no other service, by any role.
        for role in every_role(template_json):
            for service in ("ec2.amazonaws.com", "lambda.amazonaws.com", "scheduler.amazonaws.com"):
                to_other = {"iam:PassedToService": service}
                assert allowed(template_json, role, "iam:PassRole", passed, **to_other) == (
                    "ImplicitDeny"
                ), (role, passed, service)
    # And the drill's function passes none of the stack's own roles.
    for role in every_role(template_json):
        own = arn(template_json, role)
        assert allowed(template_json, drill_function, "iam:PassRole", own, **to_opsworks_cm) == (
            "ImplicitDeny"
        ), role


@pytest.mark.parametrize("kind", ["Tracker", "Drill"])
def test_a_state_machine_passes_no_role(template_json: dict[str, Any], kind: str) -> None:
    role = role_of(template_json, kind)

    assert "iam:PassRole" not in actions_of(template_json, role)
    for passed in DRILL_ROLES:
        context = {"iam:PassedToService": OPSWORKS_CM}
        assert allowed(template_json, role, "iam:PassRole", passed, **context) == "ImplicitDeny"


def test_a_failed_asynchronous_run_is_sent_where_the_role_may_send_it(
    template_json: dict[str, Any],
) -> None:
    # Lambda sends the on-failure record as the function's role: to the dead-letter queue,
    # which it may send to, and nowhere else.
    _, invoke = only(template_json, "AWS::Lambda::EventInvokeConfig")
    function, _ = lambda_function(template_json)
    queue, _ = only(template_json, "AWS::SQS::Queue", "DeadLetters")
    alerts_queue, _ = only(template_json, "AWS::SQS::Queue", "AlertsUndelivered")
    destination = resolve(
        invoke["Properties"]["DestinationConfig"]["OnFailure"]["Destination"],
        physical(template_json),
    )
    role = function_role(template_json)

    assert invoke["Properties"]["FunctionName"] == {"Ref": function}
    assert destination == arn(template_json, queue)
    assert allowed(template_json, role, "sqs:SendMessage", destination) == "Allow"
    assert allowed(template_json, role, "sqs:ReceiveMessage", destination) == "ImplicitDeny"
    sideways = allowed(template_json, role, "sqs:SendMessage", arn(template_json, alerts_queue))
    assert sideways == "ImplicitDeny"
