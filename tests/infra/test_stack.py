"""The synthesized template: what an operator relies on, asserted property by property."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from local.cloud import PSEUDO, resolve
from tests.support.stack import definition, machine, only, resources


def test_schedule_runs_the_orchestrator_on_cron_in_the_time_zone(template: Template) -> None:
    template.has_resource_properties(
        "AWS::Scheduler::Schedule",
        {
            "ScheduleExpression": "cron(0 2 * * ? *)",
            "ScheduleExpressionTimezone": "UTC",
            "State": "ENABLED",
            "Target": {
                "Input": Match.serialized_json(
                    {"source": "schedule", "scheduledTime": "<aws.scheduler.scheduled-time>"}
                ),
                "RetryPolicy": {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 21600},
                "DeadLetterConfig": {"Arn": Match.any_value()},
            },
        },
    )


def test_outputs_name_what_an_operator_uses(template_json: dict[str, Any]) -> None:
    assert set(template_json["Outputs"]) == {
        "OrchestratorFunctionName",
        "TrackerStateMachineArn",
        "DrillStateMachineArn",
        "HistoryTableName",
        "AlertTopicArn",
        "DashboardName",
        "ScheduleName",
    }


def test_schedule_is_in_the_default_group(template_json: dict[str, Any]) -> None:
    # A group of the stack's own would outlive `cdk destroy` (retained, with a fixed generated
    # name) and make the next deploy fail.
    _, schedule = only(template_json, "AWS::Scheduler::Schedule")

    assert resources(template_json, "AWS::Scheduler::ScheduleGroup") == {}
    assert schedule["Properties"].get("GroupName", "default") == "default"


def test_powertools_layer_is_the_pinned_release_looked_up_in_the_region(
    template_json: dict[str, Any],
) -> None:
    _, function = only(template_json, "AWS::Lambda::Function")
    [layer] = function["Properties"]["Layers"]
    parameter = template_json["Parameters"][layer["Ref"]]

    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    # The release the tests run with is the one the function gets.
    assert parameter["Default"] == (
        f"/aws/service/powertools/python/arm64/python3.13/{version('aws-lambda-powertools')}"
    )


def test_orchestrator_function(template: Template, template_json: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.13",
            "Architectures": ["arm64"],
            "Handler": "backup_orchestrator.handlers.orchestrator.lambda_handler",
            "ReservedConcurrentExecutions": 1,
            "TracingConfig": {"Mode": "Active"},
            "Timeout": 122,
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": Match.any_value()},
            "DeadLetterConfig": {"TargetArn": Match.any_value()},
        },
    )
    _, function = only(template_json, "AWS::Lambda::Function")
    variables = function["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if isinstance(v, str)} == {
        "AWS_DATA_PATH": "/var/task/models",
        "SELECT_TAG": "opsworks-cm-backup=enabled",
        "RETAIN": "7",
        "PRUNE_SCOPE": "own",
        "POLL_SECONDS": "60",
        "DEADLINE_SECONDS": "10800",
        "POWERTOOLS_SERVICE_NAME": "opsworks-cm-backup",
        "POWERTOOLS_METRICS_NAMESPACE": "OpsWorksCMBackup",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # The default schedule's longest gap (24 h) + the retry window (2 h) + the deadline (3 h).
        "RPO_HOURS": "29",
        "COMPLIANCE_COUNTS_AUTOMATED": "false",
        "RETRY_WINDOW_MINUTES": "120",
        "RETRY_SCHEDULE_PREFIX": "OpsWorksCMBackup-retry",
        "RESTORE_DRILL": "off",
        "DRILL_DEADLINE_SECONDS": "7200",
    }
    references = {
        "TRACKER_STATE_MACHINE_ARN",
        "IDEMPOTENCY_TABLE",
        "HISTORY_TABLE",
        "ALERT_TOPIC_ARN",
        "RETRY_ROLE_ARN",
        "DEAD_LETTER_ARN",
        "DRILL_STATE_MACHINE_ARN",
        "DRILL_SERVICE_ROLE_ARN",
        "DRILL_INSTANCE_PROFILE_ARN",
    }
    assert set(variables) - references == {k for k, v in variables.items() if isinstance(v, str)}
    # Each reference is to the resource the setting names.
    history = next(
        k for k in resources(template_json, "AWS::DynamoDB::GlobalTable") if k.startswith("History")
    )
    assert variables["HISTORY_TABLE"] == {"Ref": history}
    topic, _ = only(template_json, "AWS::SNS::Topic")
    assert variables["ALERT_TOPIC_ARN"] == {"Ref": topic}
    queue, _ = only(template_json, "AWS::SQS::Queue")
    assert variables["DEAD_LETTER_ARN"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert variables["RETRY_ROLE_ARN"]["Fn::GetAtt"][0].startswith("SchedulerRole")
    drill, _ = machine(template_json, "Drill")
    assert variables["DRILL_STATE_MACHINE_ARN"] == {"Ref": drill}
    # By default a drill may pass only the service's standard roles, in this account.
    assert resolve(variables["DRILL_SERVICE_ROLE_ARN"], PSEUDO) == (
        "arn:aws:iam::123456789012:role/service-role/aws-opsworks-cm-service-role"
    )
    assert resolve(variables["DRILL_INSTANCE_PROFILE_ARN"], PSEUDO) == (
        "arn:aws:iam::123456789012:instance-profile/aws-opsworks-cm-ec2-role"
    )


def test_compliance_alarm_and_dashboard(template_json: dict[str, Any]) -> None:
    alarms = resources(template_json, "AWS::CloudWatch::Alarm").values()
    [alarm] = [a for a in alarms if a["Properties"].get("MetricName") == "NonCompliantServers"]
    assert alarm["Properties"]["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert (alarm["Properties"]["Threshold"], alarm["Properties"]["Statistic"]) == (1, "Maximum")
    _, dashboard = only(template_json, "AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "BackupAgeHours" in body and "NonCompliantServers" in body
    assert "default RPO" in body


def test_tracker_definition_loops_and_decides(template_json: dict[str, Any]) -> None:
    states = definition(template_json)
    follow = states["States"]["FollowBackups"]
    loop = follow["ItemProcessor"]["States"]

    assert states["StartAt"] == "FollowBackups"
    assert follow["MaxConcurrency"] == 40
    assert follow["ItemProcessor"]["StartAt"] == "WaitForBackup"
    assert loop["WaitForBackup"] == {
        "Type": "Wait",
        "SecondsPath": "$.pollSeconds",
        "Next": "DescribeBackup",
    }
    describe = loop["DescribeBackup"]
    assert describe["Resource"] == "arn:aws:states:::aws-sdk:opsworkscm:describeBackups"
    assert describe["ResultSelector"] == {
        "status.$": "States.ArrayGetItem($.Backups[*].Status, 0)",
        "said.$": "States.Array($.Backups[*].StatusDescription, States.Array('no reason given'))",
    }
    [retry] = describe["Retry"]
    assert "OpsWorksCm.ThrottlingException" in retry["ErrorEquals"]
    assert (retry["BackoffRate"], retry["MaxAttempts"], retry["JitterStrategy"]) == (2, 6, "FULL")
    assert [c["ErrorEquals"] for c in describe["Catch"]] == [
        ["OpsWorksCm.ResourceNotFoundException"],
        ["States.ALL"],
    ]
    choices = loop["CheckStatus"]["Choices"]
    assert choices[0] == {
        "Variable": "$.describe.status",
        "StringEquals": "OK",
        "Next": "ApplyDeferredDeletes",
    }
    assert choices[2]["And"][1] == {
        "Variable": "$.clock.elapsed",
        "NumericGreaterThanEqualsPath": "$.deadlineSeconds",
    }
    assert choices[3]["Next"] == "WaitForBackup"
    assert loop["CheckStatus"]["Default"] == "BackupFailed"
    delete = loop["ApplyDeferredDeletes"]["ItemProcessor"]["States"]["DeleteBackup"]
    assert delete["Resource"] == "arn:aws:states:::aws-sdk:opsworkscm:deleteBackup"
    assert delete["Catch"][0]["ErrorEquals"] == [
        "OpsWorksCm.ResourceNotFoundException",
        "OpsWorksCm.InvalidStateException",
    ]
    assert states["States"]["Alert"]["Resource"] == "arn:aws:states:::sns:publish"
    assert states["States"]["BackupsNeedAttention"]["Type"] == "Fail"


def test_tracker_is_standard_logged_and_traced(template: Template) -> None:
    template.has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": "STANDARD",
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": {
                "Level": "ERROR",
                "IncludeExecutionData": True,
                "Destinations": Match.any_value(),
            },
        },
    )


def test_tracker_logs_to_a_vended_logs_group(template_json: dict[str, Any]) -> None:
    # Under /aws/vendedlogs/ Step Functions needs no CloudWatch Logs resource policy, whose size
    # limit accounts with many logged state machines reach.
    for kind in ("Tracker", "Drill"):
        _, found = machine(template_json, kind)
        [destination] = found["Properties"]["LoggingConfiguration"]["Destinations"]
        group = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]

        name = template_json["Resources"][group]["Properties"]["LogGroupName"]
        assert name == f"/aws/vendedlogs/states/OpsWorksCMBackup-{kind}"


def test_every_alarm_notifies_the_topic(template_json: dict[str, Any]) -> None:
    topic, _ = only(template_json, "AWS::SNS::Topic")
    alarms = resources(template_json, "AWS::CloudWatch::Alarm")

    assert len(alarms) == 12
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]


def test_missed_backup_watchdog_counts_missing_data_as_breaching(template: Template) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": "BackupsSucceeded",
            "Namespace": "OpsWorksCMBackup",
            "ComparisonOperator": "LessThanThreshold",
            "Threshold": 1,
            # Derived from the daily schedule: 24 hours, the 3-hour deadline and an hour.
            "EvaluationPeriods": 28,
            "DatapointsToAlarm": 28,
            "Period": 3600,
            "TreatMissingData": "breaching",
        },
    )


@pytest.mark.parametrize(
    ("metric", "namespace"),
    [
        ("Errors", "AWS/Lambda"),
        ("ExecutionsFailed", "AWS/States"),
        ("ExecutionsTimedOut", "AWS/States"),
        ("ApproximateNumberOfMessagesVisible", "AWS/SQS"),
        ("BackupsFailedToStart", "OpsWorksCMBackup"),
        ("TrackerStartFailures", "OpsWorksCMBackup"),
        ("RetentionDeleteFailures", "OpsWorksCMBackup"),
        ("RestoreDrillsFailed", "OpsWorksCMBackup"),
        ("RestoreDrillCleanupFailures", "OpsWorksCMBackup"),
    ],
)
def test_alarms_on_everything_that_means_a_missing_backup(
    template: Template, metric: str, namespace: str
) -> None:
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "MetricName": metric,
            "Namespace": namespace,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        },
    )


def test_encryption_and_durability(template: Template, template_json: dict[str, Any]) -> None:
    key, _ = only(template_json, "AWS::KMS::Key")
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    )
    template.has_resource_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
    template.has_resource_properties(
        "AWS::DynamoDB::GlobalTable",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expiration", "Enabled": True},
            "Replicas": [
                Match.object_like(
                    {"PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True}}
                )
            ],
        },
    )
    # Both resource policies deny requests without TLS; the topic's also lets this account's
    # alarms publish (evaluated in test_policies.py).
    for kind in ("AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy"):
        _, policy = only(template_json, kind)
        [deny] = [
            s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
        ]
        assert deny["Principal"] in ("*", {"AWS": "*"})
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_log_groups_have_retention(template: Template) -> None:
    template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


def test_cfn_lint_passes(cdk_out: Path, template_json: dict[str, Any]) -> None:
    path = cdk_out / "OpsWorksCMBackup.template.json"

    result = subprocess.run(
        # W3005: CDK adds DependsOn on roles that a GetAtt already implies; harmless.
        [str(Path(sys.executable).parent / "cfn-lint"), str(path), "--ignore-checks", "W3005"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_what_holds_state_keeps_its_logical_id(template_json: dict[str, Any]) -> None:
    # A resource whose logical id changes is replaced by the next deploy: the tables would lose
    # their items (a slot's claim, the history), the key and topic their subscriptions and
    # policies, the tracker its running executions. Renaming one must be a decision, not a slip.
    stateful = (
        "AWS::DynamoDB::GlobalTable",
        "AWS::KMS::Key",
        "AWS::SNS::Topic",
        "AWS::SQS::Queue",
        "AWS::StepFunctions::StateMachine",
        "AWS::Logs::LogGroup",
        "AWS::Lambda::Function",
    )
    ids = {kind: sorted(resources(template_json, kind)) for kind in stateful}

    assert ids == {
        "AWS::DynamoDB::GlobalTable": ["HistoryC127576E", "IdempotencyC15CBC33"],
        "AWS::KMS::Key": ["AlertsKey9E1197AF"],
        "AWS::SNS::Topic": ["AlertsTopicCF7C81C9"],
        "AWS::SQS::Queue": ["DeadLettersBBF8BAAB"],
        "AWS::StepFunctions::StateMachine": [
            "DrillStateMachine95691D6C",
            "TrackerStateMachineE6261FB4",
        ],
        "AWS::Logs::LogGroup": [
            "DrillLogs1D13E7D5",
            "OrchestratorLogsDA257AF9",
            "TrackerLogs6F324061",
        ],
        "AWS::Lambda::Function": ["Orchestrator6EF1216F"],
    }
