"""Monitoring: the alarms on everything that means a backup may be missing, wired to the alert
topic; the alarm on alerts the topic could not deliver, wired to nothing; and the dashboard,
which shows every alarm's state."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.constructs.nag import acknowledge_rule
from infra.constructs.state_machines import METRIC_NAMESPACE, SERVICE_DIMENSION

DIMENSIONS = {SERVICE_DIMENSION["Name"]: SERVICE_DIMENSION["Value"]}


def per_server(metric: str, statistic: str, period: Duration) -> str:
    """A SEARCH for every server's series of `metric` (published with dimension ServerName)."""
    return (
        "SEARCH('{" + METRIC_NAMESPACE + ',ServerName,service} MetricName="' + metric + "\"', "
        f"'{statistic}', {int(period.to_seconds())})"
    )


AGE_PER_SERVER = per_server("BackupAgeHours", "Maximum", Duration.hours(1))
# The restore drills' panels look back further than the dashboard's week: drills are monthly.
DRILL_RANGE = "-P32D"


def product_metric(name: str, statistic: str = "Sum", period: Duration | None = None) -> cw.Metric:
    return cw.Metric(
        namespace=METRIC_NAMESPACE,
        metric_name=name,
        dimensions_map=DIMENSIONS,
        statistic=statistic,
        period=period or Duration.hours(1),
    )


class Monitoring(Construct):
    """Alarms on everything that means a backup may be missing, and a dashboard."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        function: lambda_.IFunction,
        state_machine: sfn.IStateMachine,
        drill: sfn.IStateMachine,
        dead_letters: sqs.IQueue,
        undelivered_alerts: sqs.IQueue,
        watchdog_hours: int,
        rpo_hours: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self._action = cw_actions.SnsAction(topic)
        self.alarms: list[cw.Alarm] = []
        self._build_alarms(function, state_machine, drill, dead_letters)
        self._build_watchdog(watchdog_hours)
        self.alerts_undelivered = self._build_delivery_alarm(undelivered_alerts)
        self.dashboard = self._build_dashboard(function, state_machine, rpo_hours)

    def alarm(self, name: str, metric: cw.IMetric, description: str) -> cw.Alarm:
        """An alarm on any occurrence of `metric`, notifying the alert topic."""
        created = cw.Alarm(
            self,
            name,
            metric=metric,
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        created.add_alarm_action(self._action)
        self.alarms.append(created)
        return created

    def _build_alarms(
        self,
        function: lambda_.IFunction,
        state_machine: sfn.IStateMachine,
        drill: sfn.IStateMachine,
        dead_letters: sqs.IQueue,
    ) -> None:
        """An alarm on each thing that means a backup, a run or a drill needs a person."""
        alarm = self.alarm
        five_minutes = Duration.minutes(5)
        alarm(
            "OrchestratorErrors",
            function.metric_errors(period=five_minutes, statistic="Sum"),
            "The backup orchestrator function failed a run (bad event, settings, or a crash).",
        )
        alarm(
            "BackupsFailedToStart",
            product_metric("BackupsFailedToStart", period=five_minutes),
            "A scheduled or manual run could not start a backup; see the run report in the logs.",
        )
        alarm(
            "NonCompliantServers",
            product_metric("NonCompliantServers", "Maximum", period=Duration.hours(1)),
            "A selected server's newest good backup is older than its recovery point objective; "
            "the compliance alert and the run report name each server and why.",
        )
        alarm(
            "TrackerNotStarted",
            product_metric("TrackerStartFailures", period=five_minutes),
            "Backups were started but the tracker could not be; they are not being followed.",
        )
        alarm(
            "RetentionDeleteFailures",
            product_metric("RetentionDeleteFailures", period=five_minutes),
            "A backup is OK but an old backup it should have replaced could not be deleted; it "
            "still counts toward the manual-backup limit (the alert says why).",
        )
        alarm(
            "AccessDenied",
            product_metric("AccessDeniedAnswers", period=five_minutes),
            "OpsWorks CM answered 'not found' for a server or backup its own listing still shows: "
            "access was denied (a service control policy, a permissions boundary or an edited "
            "role); what was denied failed, nothing was taken as gone (safety rule 16).",
        )
        alarm(
            "TrackerFailed",
            state_machine.metric_failed(period=five_minutes, statistic="Sum"),
            "A backup ended FAILED, vanished, or missed its deadline (the tracker failed).",
        )
        alarm(
            "TrackerTimedOut",
            state_machine.metric_timed_out(period=five_minutes, statistic="Sum"),
            "The tracker execution ran past its own time limit.",
        )
        alarm(
            "DeadLetters",
            dead_letters.metric_approximate_number_of_messages_visible(
                period=five_minutes, statistic="Maximum"
            ),
            "A scheduled invocation could not be delivered or failed every retry.",
        )
        alarm(
            "RestoreDrillsFailed",
            product_metric("RestoreDrillsFailed", period=five_minutes),
            "A restore drill's server ended FAILED, was not HEALTHY by the deadline, or the drill "
            "erred: a backup is not proven to restore (the alert says which and why).",
        )
        alarm(
            "RestoreDrillCleanupFailed",
            product_metric("RestoreDrillCleanupFailures", period=five_minutes),
            "URGENT: a restore drill's temporary server could not be deleted; it is still running "
            "and costs money (the alert names it).",
        )
        alarm(
            "RestoreDrillTimedOut",
            drill.metric_timed_out(period=five_minutes, statistic="Sum"),
            "URGENT: a restore drill ran past its own limit before its cleanup: its server may be "
            "running; the next scheduled run deletes it (drill servers are tagged drill-of).",
        )

    def _build_watchdog(self, watchdog_hours: int) -> None:
        """No backup succeeded for longer than the schedule allows: every hour of the window
        without a success breaches, and missing data (no runs at all) counts as breaching."""
        watchdog = cw.Alarm(
            self,
            "MissedBackupWatchdog",
            metric=product_metric("BackupsSucceeded", period=Duration.hours(1)),
            threshold=1,
            evaluation_periods=watchdog_hours,
            datapoints_to_alarm=watchdog_hours,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.BREACHING,
            alarm_description=(
                f"No OpsWorks CM backup has succeeded in the last {watchdog_hours} hours."
            ),
        )
        watchdog.add_alarm_action(self._action)
        self.alarms.append(watchdog)

    def _build_delivery_alarm(self, undelivered: sqs.IQueue) -> cw.Alarm:
        """An alert in the alert topic's dead-letter queue: a subscription could not take it.
        Its state is on the dashboard and in `owcm-backup status` (stack output
        AlertDeliveryAlarmName)."""
        alarm = delivery_alarm(
            self,
            undelivered,
            "An alert could not be delivered to a subscription of the alert topic (a bounced "
            "address, an endpoint that failed every retry); it waits in the queue of stack "
            "output AlertDeadLettersUrl for 14 days. This alarm notifies nobody: the way it "
            "would is the way that failed.",
            "the dashboard and by `owcm-backup status`",
        )
        self.alarms.append(alarm)
        return alarm

    def _build_dashboard(
        self, function: lambda_.IFunction, state_machine: sfn.IStateMachine, rpo_hours: int
    ) -> cw.Dashboard:
        """Backups, deletions and headroom, ages against the RPO, drills, and every alarm."""
        dashboard = cw.Dashboard(self, "Dashboard", default_interval=Duration.days(7))
        dashboard.add_widgets(
            *_backup_widgets(rpo_hours),
            *_run_widgets(function, state_machine),
            *_drill_widgets(),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24),
        )
        return dashboard


def _backup_widgets(rpo_hours: int) -> list[cw.IWidget]:
    """Backups per day, deletions and headroom, durations, and each server's age against RPO."""
    day = Duration.days(1)
    return [
        cw.GraphWidget(
            title="Backups per day",
            left=[
                product_metric("BackupsStarted", period=day),
                product_metric("BackupsSucceeded", period=day),
                product_metric("BackupsFailed", period=day),
                product_metric("BackupsFailedToStart", period=day),
                product_metric("BackupsSkipped", period=day),
            ],
            width=12,
        ),
        cw.GraphWidget(
            title="Backups deleted and manual-backup headroom",
            left=[
                product_metric("BackupsDeleted", period=day),
                product_metric("RetentionDeleteFailures", period=day),
            ],
            right=[product_metric("ManualBackupHeadroom", "Minimum", period=day)],
            width=12,
        ),
        cw.GraphWidget(
            title="Backup duration (seconds, as seen by the tracker)",
            left=[
                product_metric("BackupDuration", "Average", period=day),
                product_metric("BackupDuration", "Maximum", period=day),
            ],
            width=12,
        ),
        cw.GraphWidget(
            title=f"Newest good backup's age per server (hours; default RPO {rpo_hours} h)",
            left=[
                cw.MathExpression(
                    expression=AGE_PER_SERVER,
                    label="",
                    period=Duration.hours(1),
                )
            ],
            left_annotations=[
                cw.HorizontalAnnotation(value=rpo_hours, label="default RPO", color="#d62728")
            ],
            width=18,
        ),
        cw.SingleValueWidget(
            title="Servers outside their RPO (last run)",
            metrics=[product_metric("NonCompliantServers", "Maximum", period=day)],
            width=6,
        ),
    ]


def _run_widgets(function: lambda_.IFunction, state_machine: sfn.IStateMachine) -> list[cw.IWidget]:
    """The orchestrator's errors and throttles, and how the tracker's executions ended."""
    day = Duration.days(1)
    return [
        cw.GraphWidget(
            title="Orchestrator and tracker",
            left=[function.metric_errors(period=day), function.metric_throttles(period=day)],
            right=[
                state_machine.metric_succeeded(period=day),
                state_machine.metric_failed(period=day),
                state_machine.metric_timed_out(period=day),
            ],
            width=12,
        ),
    ]


def _drill_widgets() -> list[cw.IWidget]:
    """The restore drills over the last 32 days: recovery times, failures, per day."""
    day = Duration.days(1)
    return [
        cw.SingleValueWidget(
            title="Last good restore drill per server: recovery time (s, last 32 days)",
            metrics=[
                cw.MathExpression(
                    expression=per_server("RestoreDrillSeconds", "Maximum", day),
                    label="",
                    period=day,
                )
            ],
            start=DRILL_RANGE,
            width=12,
        ),
        cw.SingleValueWidget(
            title="Failed restore drills per server (last 32 days)",
            metrics=[
                cw.MathExpression(
                    expression=per_server("RestoreDrillsFailed", "Sum", Duration.days(32)),
                    label="",
                    period=Duration.days(32),
                )
            ],
            start=DRILL_RANGE,
            width=6,
        ),
        cw.GraphWidget(
            title="Restore drills per day",
            left=[
                product_metric("RestoreDrillsSucceeded", period=day),
                product_metric("RestoreDrillsFailed", period=day),
                product_metric("RestoreDrillCleanupFailures", period=day),
            ],
            start=DRILL_RANGE,
            width=6,
        ),
    ]


def delivery_alarm(
    scope: Construct, undelivered: sqs.IQueue, description: str, shown: str
) -> cw.Alarm:
    """An alarm on an alert in a topic's dead-letter queue (`undelivered`): a subscription could
    not take it. Notifying through the topic would go the way that failed, so the alarm has no
    action; its state is shown on `shown`."""
    alarm = cw.Alarm(
        scope,
        "AlertsUndelivered",
        metric=undelivered.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(5), statistic="Maximum"
        ),
        threshold=1,
        evaluation_periods=1,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
        alarm_description=description,
    )
    acknowledge_rule(
        alarm,
        "CloudWatchAlarmAction",
        "This alarm watches the alert topic's own deliveries: an action would notify through "
        f"the topic whose subscription is failing. Its state is shown on {shown} "
        "instead, and the undelivered alerts wait in their queue.",
    )
    return alarm
