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

from backup_orchestrator.contract.limits import RETRIED
from infra.assets.code import RUNTIME
from infra.assets.layer import PYTHON
from infra.constructs.drill import CALL_TIMEOUT_SECONDS
from infra.constructs.tracker import POLL_TIMEOUT_SECONDS
from local.cloud import PSEUDO, resolve
from tests.support.stack import FUNCTIONS, definition, lambda_function, machine, only, resources


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
        # Alerts the topic could not deliver, and the alarm on them (for `owcm-backup status`).
        "AlertDeadLettersUrl",
        "AlertDeadLettersArn",
        "AlertDeliveryAlarmName",
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
    # Every function runs with the one layer, the orchestrator's and the state machines'.
    layers = {
        owner: lambda_function(template_json, owner)[1]["Properties"]["Layers"]
        for owner in FUNCTIONS
    }
    [layer] = layers["Orchestrator"]
    parameter = template_json["Parameters"][layer["Ref"]]

    assert layers == {owner: [layer] for owner in FUNCTIONS}
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    # The release the tests run with is the one the function gets.
    assert parameter["Default"] == (
        f"/aws/service/powertools/python/arm64/python3.14/{version('aws-lambda-powertools')}"
    )


def test_every_function_runs_on_the_python_its_layer_is_built_for(
    template_json: dict[str, Any],
) -> None:
    # The newest Python whose Powertools layer has a public SSM parameter (what cdk-nag's
    # latest-runtime rules ask for); the code stays importable by the tests' Python 3.11.
    runtimes = {
        owner: lambda_function(template_json, owner)[1]["Properties"]["Runtime"]
        for owner in FUNCTIONS
    }

    assert RUNTIME.name == f"python{PYTHON}" == "python3.14"
    assert runtimes == dict.fromkeys(FUNCTIONS, RUNTIME.name)


def test_orchestrator_function(template: Template, template_json: dict[str, Any]) -> None:
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.14",
            "Architectures": ["arm64"],
            "Handler": "backup_orchestrator.handlers.orchestrator.lambda_handler",
            "ReservedConcurrentExecutions": 1,
            "TracingConfig": {"Mode": "Active"},
            "Timeout": 122,
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": Match.any_value()},
            # A failed asynchronous invocation goes to the on-failure destination instead.
            "DeadLetterConfig": Match.absent(),
        },
    )
    _, function = lambda_function(template_json)
    variables = function["Properties"]["Environment"]["Variables"]
    assert {k: v for k, v in variables.items() if isinstance(v, str)} == {
        "AWS_DATA_PATH": "/var/task/models",
        "SELECT_TAG": "opsworks-cm-backup=enabled",
        "RETENTION": "daily:7",
        "TIME_ZONE": "UTC",
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
    queue, _ = only(template_json, "AWS::SQS::Queue", "DeadLetters")
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


@pytest.mark.parametrize(
    ("owner", "handler", "timeout"),
    [
        ("Tracker", "backup_orchestrator.handlers.tracker.lambda_handler", POLL_TIMEOUT_SECONDS),
        ("Drill", "backup_orchestrator.handlers.drill.lambda_handler", CALL_TIMEOUT_SECONDS),
    ],
)
def test_each_state_machines_function_runs_its_handler_logging_to_its_own_group(
    template_json: dict[str, Any], owner: str, handler: str, timeout: int
) -> None:
    _, function = lambda_function(template_json, owner)
    _, orchestrator = lambda_function(template_json)
    properties = function["Properties"]
    group = properties["LoggingConfig"]["LogGroup"]["Ref"]

    assert properties["Handler"] == handler
    assert (properties["Runtime"], properties["Architectures"]) == ("python3.14", ["arm64"])
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert properties["Timeout"] == timeout
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert template_json["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    assert group != orchestrator["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    # The same code as the orchestrator's, with the carried OpsWorks CM model on the path.
    assert properties["Code"] == orchestrator["Properties"]["Code"]
    assert properties["Environment"]["Variables"] == {
        "AWS_DATA_PATH": "/var/task/models",
        "POWERTOOLS_SERVICE_NAME": "opsworks-cm-backup",
        "POWERTOOLS_METRICS_NAMESPACE": "OpsWorksCMBackup",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


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
    # Step Functions keeps the loop; the tracker's function polls the run's backups and says
    # whether it is finished, and composes the run's alert when there is one.
    states = definition(template_json)["States"]
    function, _ = lambda_function(template_json, "Tracker")

    assert definition(template_json)["StartAt"] == "FirstWait"
    assert states["FirstWait"] == {
        "Type": "Wait",
        "SecondsPath": "$.firstWaitSeconds",
        "Next": "Poll",
    }
    assert states["WaitForBackups"] == {
        "Type": "Wait",
        "SecondsPath": "$.pollSeconds",
        "Next": "Poll",
    }
    poll = states["Poll"]
    assert poll["Resource"] == "arn:aws:states:::lambda:invoke"
    # What handlers/tracker.py reads: the whole state and the execution; its answer is the state.
    assert poll["Parameters"] == {
        "FunctionName": function,
        "Payload": {"state.$": "$", "execution.$": "$$.Execution.Id"},
    }
    assert poll["OutputPath"] == "$.Payload"
    [retry] = poll["Retry"]
    assert retry["ErrorEquals"] == list(RETRIED)
    assert (retry["BackoffRate"], retry["MaxAttempts"], retry["JitterStrategy"]) == (2, 6, "FULL")
    assert poll["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "Next": "NotFollowed", "ResultPath": "$.error"}
    ]
    assert poll["Next"] == "Finished"
    assert states["Finished"] == {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.finished", "BooleanEquals": False, "Next": "WaitForBackups"},
            {"Variable": "$.alert", "IsPresent": True, "Next": "Alert"},
        ],
        "Default": "AllBackupsOk",
    }
    assert states["AllBackupsOk"] == {"Type": "Succeed"}
    alert = states["Alert"]
    assert alert["Resource"] == "arn:aws:states:::sns:publish"
    topic, _ = only(template_json, "AWS::SNS::Topic")
    assert alert["Parameters"] == {
        "TopicArn": topic,
        "Subject.$": "$.alert.subject",
        "Message.$": "$.alert.message",
    }
    assert alert["Next"] == "AnyFailed"
    assert states["AnyFailed"]["Choices"] == [
        {"Variable": "$.failed", "BooleanEquals": True, "Next": "BackupsNeedAttention"}
    ]
    assert states["AnyFailed"]["Default"] == "RetentionProblemReported"
    assert states["BackupsNeedAttention"]["Type"] == "Fail"
    # A poll that still fails composes the alert here: the run, the error, what was followed.
    not_followed = states["NotFollowed"]["Parameters"]
    assert not_followed["subject"] == "OpsWorks CM backup needs attention"
    assert not_followed["message.$"].startswith("States.Format('OpsWorks CM backup run {} ")
    assert not_followed["message.$"].endswith(
        "', $.runId, $.error.Error, $.error.Cause, $.report, "
        "States.JsonToString($.backups[*].backupId), $$.Execution.Id)"
    )
    assert states["NotFollowed"]["ResultPath"] == "$.alert"


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


def test_every_alarm_but_the_delivery_alarm_notifies_the_topic(
    template_json: dict[str, Any],
) -> None:
    topic, _ = only(template_json, "AWS::SNS::Topic")
    alarms = resources(template_json, "AWS::CloudWatch::Alarm")
    delivery, _ = only(template_json, "AWS::CloudWatch::Alarm", "MonitoringAlertsUndelivered")

    assert len(alarms) == 14  # AccessDenied: "not found" a listing contradicts (rule 16)
    for logical, alarm in alarms.items():
        if logical != delivery:
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
    key, _ = only(template_json, "AWS::KMS::Key", "AlertsKey")
    template.all_resources_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    template.has_resource_properties(
        "AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    )
    template.all_resources_properties("AWS::SQS::Queue", {"SqsManagedSseEnabled": True})
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
    # Every resource policy denies requests without TLS; the topic's also lets this account's
    # alarms publish, the alert dead-letter queue's lets SNS send for this topic (evaluated in
    # test_policies.py).
    policies = {
        **resources(template_json, "AWS::SNS::TopicPolicy"),
        **resources(template_json, "AWS::SQS::QueuePolicy"),
    }
    assert len(policies) == 3
    for policy in policies.values():
        [deny] = [
            s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"
        ]
        assert deny["Principal"] in ("*", {"AWS": "*"})
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_log_groups_have_retention(template: Template) -> None:
    template.all_resources_properties("AWS::Logs::LogGroup", {"RetentionInDays": 90})


def test_every_log_group_is_encrypted_with_the_logs_own_key(template_json: dict[str, Any]) -> None:
    # The key's policy is evaluated in test_policies.py.
    key, _ = only(template_json, "AWS::KMS::Key", "LogsKey")
    groups = resources(template_json, "AWS::Logs::LogGroup")

    assert len(groups) == 5
    for group in groups.values():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}


def test_an_undelivered_alert_raises_an_alarm_that_is_seen_where_it_does_not_notify(
    template_json: dict[str, Any],
) -> None:
    queue, _ = only(template_json, "AWS::SQS::Queue", "AlertsUndelivered")
    logical, alarm = only(template_json, "AWS::CloudWatch::Alarm", "MonitoringAlertsUndelivered")
    _, dashboard = only(template_json, "AWS::CloudWatch::Dashboard")
    names = {k: k for k in template_json["Resources"]}
    body = json.loads(resolve(dashboard["Properties"]["DashboardBody"], names))
    [status] = [w for w in body["widgets"] if w["type"] == "alarm"]

    assert {k: alarm["Properties"].get(k) for k in ("Namespace", "MetricName", "Dimensions")} == {
        "Namespace": "AWS/SQS",
        "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}],
    }
    assert (alarm["Properties"]["Threshold"], alarm["Properties"]["ComparisonOperator"]) == (
        1,
        "GreaterThanOrEqualToThreshold",
    )
    # Not through the topic whose delivery failed: the dashboard and `owcm-backup status`.
    assert {"AlarmActions", "OKActions", "InsufficientDataActions"} & set(
        alarm["Properties"]
    ) == set()
    assert logical in status["properties"]["alarms"]
    assert template_json["Outputs"]["AlertDeliveryAlarmName"]["Value"] == {"Ref": logical}
    assert template_json["Outputs"]["AlertDeadLettersUrl"]["Value"] == {"Ref": queue}


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
    # policies, the tracker its running executions; a state machine's function would vanish
    # under the executions that invoke it by name. Renaming one must be a decision, not a slip.
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
        "AWS::KMS::Key": ["AlertsKey9E1197AF", "LogsKeyB5D1D597"],
        "AWS::SNS::Topic": ["AlertsTopicCF7C81C9"],
        "AWS::SQS::Queue": ["AlertsUndelivered89951F36", "DeadLettersBBF8BAAB"],
        "AWS::StepFunctions::StateMachine": [
            "DrillStateMachine95691D6C",
            "TrackerStateMachineE6261FB4",
        ],
        "AWS::Logs::LogGroup": [
            "DrillCallsLogsB4095326",
            "DrillLogs1D13E7D5",
            "OrchestratorLogsDA257AF9",
            "TrackerLogs6F324061",
            "TrackerPollerLogsDE46E671",
        ],
        "AWS::Lambda::Function": [
            "DrillCallsFunction872D2948",
            "Orchestrator6EF1216F",
            "TrackerPollerFunctionCCE36068",
        ],
    }
