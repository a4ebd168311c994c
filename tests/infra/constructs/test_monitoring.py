"""Monitoring alone: an alarm on each thing that means a backup, a run or a drill needs a person,
each on the right metric of the right resource and notifying the topic; the watchdog that counts
silence as a missed backup; the alarm on alerts the topic could not deliver, which notifies
nobody; and a dashboard that shows them all."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from infra.constructs.monitoring import Monitoring
from local.cloud import resolve
from tests.infra.constructs.conftest import (
    acknowledged,
    function,
    logical_id,
    machine,
    only,
    resources,
    synthesized,
)

WATCHDOG_HOURS = 30
RPO_HOURS = 31
FIVE_MINUTES = 300
SERVICE = [{"Name": "service", "Value": "opsworks-cm-backup"}]


@dataclass(frozen=True)
class Built:
    monitoring: Monitoring
    # The stand-ins' logical IDs: topic, function, tracker, drill, queue, undelivered.
    ids: dict[str, str]
    template: dict[str, Any]


@pytest.fixture(scope="module")
def built() -> Built:
    """Monitoring of stand-ins, built once for the module (nothing here changes it)."""
    stack = Stack(App(), "Bare")
    topic = sns.Topic(stack, "Topic")
    target = function(stack, "Function")
    tracker, drill = machine(stack, "Tracker"), machine(stack, "Drill")
    queue = sqs.Queue(stack, "Queue")
    undelivered = sqs.Queue(stack, "Undelivered")
    monitoring = Monitoring(
        stack,
        "Monitoring",
        topic=topic,
        function=target,
        state_machine=tracker,
        drill=drill,
        dead_letters=queue,
        undelivered_alerts=undelivered,
        watchdog_hours=WATCHDOG_HOURS,
        rpo_hours=RPO_HOURS,
    )
    ids = {
        name: logical_id(construct)
        for name, construct in (
            ("topic", topic),
            ("function", target),
            ("tracker", tracker),
            ("drill", drill),
            ("queue", queue),
            ("undelivered", undelivered),
        )
    }
    return Built(monitoring, ids, synthesized(stack))


def alarms(built: Built) -> dict[str, dict[str, Any]]:
    """Each alarm's properties, by its construct id."""
    return {
        alarm.node.id: built.template["Resources"][logical_id(alarm)]["Properties"]
        for alarm in built.monitoring.alarms
    }


# Each alarm on any occurrence: its namespace, metric, statistic, period, and whose dimension
# (a stand-in's logical ID, referenced; or the product's service dimension).
ON_ANY: dict[str, tuple[str, str, str, int, tuple[str, str] | None]] = {
    "OrchestratorErrors": (
        "AWS/Lambda",
        "Errors",
        "Sum",
        FIVE_MINUTES,
        ("FunctionName", "function"),
    ),
    "BackupsFailedToStart": ("OpsWorksCMBackup", "BackupsFailedToStart", "Sum", FIVE_MINUTES, None),
    "NonCompliantServers": ("OpsWorksCMBackup", "NonCompliantServers", "Maximum", 3600, None),
    "TrackerNotStarted": ("OpsWorksCMBackup", "TrackerStartFailures", "Sum", FIVE_MINUTES, None),
    "RetentionDeleteFailures": (
        "OpsWorksCMBackup",
        "RetentionDeleteFailures",
        "Sum",
        FIVE_MINUTES,
        None,
    ),
    "AccessDenied": ("OpsWorksCMBackup", "AccessDeniedAnswers", "Sum", FIVE_MINUTES, None),
    "TrackerFailed": (
        "AWS/States",
        "ExecutionsFailed",
        "Sum",
        FIVE_MINUTES,
        ("StateMachineArn", "tracker"),
    ),
    "TrackerTimedOut": (
        "AWS/States",
        "ExecutionsTimedOut",
        "Sum",
        FIVE_MINUTES,
        ("StateMachineArn", "tracker"),
    ),
    "DeadLetters": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
        FIVE_MINUTES,
        ("QueueName", "queue"),
    ),
    "RestoreDrillsFailed": ("OpsWorksCMBackup", "RestoreDrillsFailed", "Sum", FIVE_MINUTES, None),
    "RestoreDrillCleanupFailed": (
        "OpsWorksCMBackup",
        "RestoreDrillCleanupFailures",
        "Sum",
        FIVE_MINUTES,
        None,
    ),
    "RestoreDrillTimedOut": (
        "AWS/States",
        "ExecutionsTimedOut",
        "Sum",
        FIVE_MINUTES,
        ("StateMachineArn", "drill"),
    ),
    "AlertsUndelivered": (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
        FIVE_MINUTES,
        ("QueueName", "undelivered"),
    ),
}
# Notifying through the topic would go the way that failed: this one notifies nobody.
UNNOTIFIED = "AlertsUndelivered"


def test_there_is_an_alarm_on_each_thing_that_needs_a_person(built: Built) -> None:

    assert set(alarms(built)) == {*ON_ANY, "MissedBackupWatchdog"}
    assert len(built.monitoring.alarms) == len(resources(built.template, "AWS::CloudWatch::Alarm"))


def test_every_alarm_but_the_delivery_alarm_notifies_the_topic_and_only_it(built: Built) -> None:

    for name, properties in alarms(built).items():
        if name == UNNOTIFIED:
            continue
        assert properties["AlarmActions"] == [{"Ref": built.ids["topic"]}], name
        assert "OKActions" not in properties, name
        assert "InsufficientDataActions" not in properties, name
        assert properties["AlarmDescription"], name


def test_the_delivery_alarm_notifies_nobody_and_says_so_to_the_compliance_packs(
    built: Built,
) -> None:
    properties = alarms(built)[UNNOTIFIED]
    [alarm] = [a for a in built.monitoring.alarms if a.node.id == UNNOTIFIED]

    assert {"AlarmActions", "OKActions", "InsufficientDataActions"} & set(properties) == set()
    assert "notifies nobody" in properties["AlarmDescription"]
    assert acknowledged(alarm) == {
        "NIST.800.53.R5-CloudWatchAlarmAction",
        "HIPAA.Security-CloudWatchAlarmAction",
    }
    assert built.monitoring.alerts_undelivered is alarm


@pytest.mark.parametrize("name", sorted(ON_ANY))
def test_an_alarm_fires_on_any_occurrence_of_its_metric(built: Built, name: str) -> None:
    namespace, metric, statistic, period, dimension = ON_ANY[name]
    properties = alarms(built)[name]
    if dimension is None:
        dimensions: list[dict[str, Any]] = SERVICE
    else:
        key, whose = dimension
        reference: dict[str, Any] = {"Ref": built.ids[whose]}
        if key == "QueueName":
            reference = {"Fn::GetAtt": [built.ids[whose], "QueueName"]}
        dimensions = [{"Name": key, "Value": reference}]

    assert {
        k: properties[k]
        for k in (
            "Namespace",
            "MetricName",
            "Statistic",
            "Period",
            "Dimensions",
            "Threshold",
            "EvaluationPeriods",
            "ComparisonOperator",
            "TreatMissingData",
        )
    } == {
        "Namespace": namespace,
        "MetricName": metric,
        "Statistic": statistic,
        "Period": period,
        "Dimensions": dimensions,
        "Threshold": 1,
        "EvaluationPeriods": 1,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        # No data is nothing to report: these count trouble, and quiet means none.
        "TreatMissingData": "notBreaching",
    }


def test_the_watchdog_alarms_when_no_backup_succeeded_for_its_hours(built: Built) -> None:
    properties = alarms(built)["MissedBackupWatchdog"]

    assert {k: v for k, v in properties.items() if k != "AlarmActions"} == {
        "Namespace": "OpsWorksCMBackup",
        "MetricName": "BackupsSucceeded",
        "Dimensions": SERVICE,
        "Statistic": "Sum",
        "Period": 3600,
        "Threshold": 1,
        "ComparisonOperator": "LessThanThreshold",
        # Every hour of the window without a success, and no runs at all is no success either.
        "EvaluationPeriods": WATCHDOG_HOURS,
        "DatapointsToAlarm": WATCHDOG_HOURS,
        "TreatMissingData": "breaching",
        "AlarmDescription": (
            f"No OpsWorks CM backup has succeeded in the last {WATCHDOG_HOURS} hours."
        ),
    }


def dashboard(built: Built) -> dict[str, Any]:
    _, board = only(built.template, "AWS::CloudWatch::Dashboard")
    names = {k: k for k in built.template["Resources"]}
    body: dict[str, Any] = json.loads(resolve(board["Properties"]["DashboardBody"], names))
    return body


def test_the_dashboard_shows_every_alarm(built: Built) -> None:
    body = dashboard(built)
    [status] = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert status["properties"]["alarms"] == [logical_id(a) for a in built.monitoring.alarms]
    # The delivery alarm notifies nobody: the dashboard is one of the places it is seen.
    assert logical_id(built.monitoring.alerts_undelivered) in status["properties"]["alarms"]
    assert body["start"] == "-P7D"


def test_the_dashboard_draws_each_servers_backup_age_against_the_rpo(built: Built) -> None:
    [age] = [
        w["properties"]
        for w in dashboard(built)["widgets"]
        if w["properties"].get("title", "").startswith("Newest good backup's age per server")
    ]

    assert f"default RPO {RPO_HOURS} h" in age["title"]
    assert age["annotations"]["horizontal"] == [
        {"value": RPO_HOURS, "label": "default RPO", "color": "#d62728", "yAxis": "left"}
    ]
    assert age["metrics"] == [
        [
            {
                "expression": "SEARCH('{OpsWorksCMBackup,ServerName,service} "
                "MetricName=\"BackupAgeHours\"', 'Maximum', 3600)",
                "period": 3600,
            }
        ]
    ]


def test_the_dashboards_drill_panels_look_back_past_a_monthly_drill(built: Built) -> None:
    drills = [
        w["properties"]
        for w in dashboard(built)["widgets"]
        if "drill" in w["properties"].get("title", "").lower()
    ]

    assert len(drills) == 3
    assert {panel.get("start") for panel in drills} == {"-P32D"}
    shown = json.dumps(drills)
    for metric in ("RestoreDrillSeconds", "RestoreDrillsFailed", "RestoreDrillCleanupFailures"):
        assert metric in shown
