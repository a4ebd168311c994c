"""The central stack's view of the members: a dashboard with one row per member account-region
and alarms on each member's metrics, read across accounts through the observability sink (the
metrics' `account` and `region`). The metrics, their names and dimensions, are the member
dashboard's own (infra.constructs.monitoring)."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from infra.config.estate import CENTRAL_STACK_NAME, Deployment
from infra.constructs.monitoring import AGE_PER_SERVER, DRILL_RANGE, product_metric

ROW_HEIGHT = 6


def member_metric(
    member: Deployment, name: str, statistic: str = "Sum", period: Duration | None = None
) -> cw.Metric:
    """The member stack's metric `name`, in the member's account and region."""
    return product_metric(name, statistic, period).with_(
        account=member.account, region=member.region
    )


def member_row(member: Deployment) -> list[cw.IWidget]:
    """Compliance, each server's age against the member's RPO, failures, manual-backup headroom
    and drills: one row, 24 wide."""
    where = f"{member.account} {member.region}"
    day, hour = Duration.days(1), Duration.hours(1)
    rpo = member.config.rpo
    return [
        cw.SingleValueWidget(
            title=f"{where}: servers outside their RPO",
            metrics=[member_metric(member, "NonCompliantServers", "Maximum", day)],
            width=4,
            height=ROW_HEIGHT,
        ),
        cw.GraphWidget(
            title=f"{where}: newest good backup's age per server (h; RPO {rpo} h)",
            left=[
                cw.MathExpression(
                    expression=AGE_PER_SERVER,
                    label="",
                    period=hour,
                    search_account=member.account,
                    search_region=member.region,
                )
            ],
            left_annotations=[cw.HorizontalAnnotation(value=rpo, label="RPO", color="#d62728")],
            width=6,
            height=ROW_HEIGHT,
        ),
        cw.GraphWidget(
            title=f"{where}: backup failures per day",
            left=[
                member_metric(member, "BackupsFailed", period=day),
                member_metric(member, "BackupsFailedToStart", period=day),
            ],
            width=5,
            height=ROW_HEIGHT,
        ),
        cw.GraphWidget(
            title=f"{where}: manual-backup headroom",
            left=[member_metric(member, "ManualBackupHeadroom", "Minimum", day)],
            width=4,
            height=ROW_HEIGHT,
        ),
        cw.GraphWidget(
            title=f"{where}: restore drills per day (32 days)",
            left=[
                member_metric(member, "RestoreDrillsSucceeded", period=day),
                member_metric(member, "RestoreDrillsFailed", period=day),
            ],
            start=DRILL_RANGE,
            width=5,
            height=ROW_HEIGHT,
        ),
    ]


def central_alarms(
    scope: Construct, members: Sequence[Deployment], action: cw.IAlarmAction
) -> list[cw.Alarm]:
    """Per member: a server outside its RPO, a backup that failed, one that could not start."""
    five_minutes = Duration.minutes(5)
    alarms: list[cw.Alarm] = []
    for member in members:
        watched = (
            (
                "NonCompliantServers",
                member_metric(member, "NonCompliantServers", "Maximum", Duration.hours(1)),
                "A selected server's newest good backup is older than its recovery point "
                "objective; the member's compliance alert names each server and why.",
            ),
            (
                "BackupsFailed",
                member_metric(member, "BackupsFailed", period=five_minutes),
                "A backup ended FAILED, vanished, or missed its deadline.",
            ),
            (
                "BackupsFailedToStart",
                member_metric(member, "BackupsFailedToStart", period=five_minutes),
                "A scheduled or manual run could not start a backup.",
            ),
        )
        for name, metric, description in watched:
            alarm = cw.Alarm(
                scope,
                f"{member.account}-{member.region}-{name}",
                alarm_name=f"{CENTRAL_STACK_NAME}-{member.account}-{member.region}-{name}",
                metric=metric,
                threshold=1,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=f"{member.account} {member.region}: {description}",
            )
            alarm.add_alarm_action(action)
            alarms.append(alarm)
    return alarms


def central_dashboard(
    scope: Construct, members: Sequence[Deployment], alarms: Sequence[cw.Alarm]
) -> cw.Dashboard:
    """One row per member account-region, then the central alarms' states."""
    dashboard = cw.Dashboard(scope, "Dashboard", default_interval=Duration.days(7))
    for member in members:
        # Widgets of one call are laid out left to right: one row.
        dashboard.add_widgets(*member_row(member))
    if alarms:
        dashboard.add_widgets(
            cw.AlarmStatusWidget(title="Central alarms", alarms=list(alarms), width=24)
        )
    return dashboard
