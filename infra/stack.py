"""The stack: schedule -> orchestrator function -> tracker state machine, with the restore drill,
alerts, alarms and a dashboard. It composes the constructs and says nothing they can say."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Aws, CfnOutput, Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import LOG_RETENTION_DAYS, Config
from infra.constructs.alerts import AlertTopic
from infra.constructs.drill import Drill
from infra.constructs.log_groups import LogGroups
from infra.constructs.monitoring import Monitoring
from infra.constructs.orchestrator import Orchestrator, Wiring, powertools_layer
from infra.constructs.scheduling import BackupSchedule, retry_prefix
from infra.constructs.state_machines import may_alert
from infra.constructs.storage import Storage
from infra.constructs.tracker import Tracker

# The roles OpsWorks CM's console and documentation create (service role, instance profile and
# the role in it): what a drill may pass unless the drill context keys name others.
STANDARD_SERVICE_ROLE = "service-role/aws-opsworks-cm-service-role"
STANDARD_INSTANCE_PROFILE = "aws-opsworks-cm-ec2-role"
STANDARD_INSTANCE_ROLE = "service-role/aws-opsworks-cm-ec2-role"


@dataclass(frozen=True)
class DrillRoles:
    """The roles a restore drill may pass to OpsWorks CM: the context keys' or the standard
    ones in the deploying account."""

    service_role: str
    instance_role: str
    instance_profile: str

    @classmethod
    def of(cls, config: Config) -> DrillRoles:
        iam_arn = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}"
        return cls(
            service_role=config.drill_service_role_arn or f"{iam_arn}:role/{STANDARD_SERVICE_ROLE}",
            instance_role=config.drill_instance_role_arn
            or f"{iam_arn}:role/{STANDARD_INSTANCE_ROLE}",
            instance_profile=config.drill_instance_profile_arn
            or f"{iam_arn}:instance-profile/{STANDARD_INSTANCE_PROFILE}",
        )


class BackupOrchestratorStack(Stack):
    """The stack of one account-region (in an estate, infra/estate/member.py adds to it)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: Config,
        **kwargs: object,
    ):
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.body = OrchestratorBody(self, config=config)
        self.config = config
        self.tracker, self.drill = self.body.tracker, self.body.drill
        self.function, self.schedule = self.body.function, self.body.schedule
        self.monitoring = self.body.monitoring


class OrchestratorBody:
    """Everything the stack holds, added to `stack` itself (so the logical IDs are the single
    stack's): built by BackupOrchestratorStack, and by the StackSet's stack
    (infra/estate/stack_set.py)."""

    def __init__(self, stack: Stack, *, config: Config) -> None:
        self.stack = stack
        self.config = config
        log_groups = LogGroups(
            stack,
            "Logs",
            retention=logs.RetentionDays[LOG_RETENTION_DAYS[config.log_retention_days]],
        )
        alerts = AlertTopic(stack, "Alerts", email=config.alert_email)
        storage = Storage(stack)
        roles = DrillRoles.of(config)
        layer = powertools_layer(stack, config)
        self.tracker, self.drill = self._build_state_machines(
            config, alerts, storage, log_groups, roles, layer
        )
        orchestrator = Orchestrator(
            stack,
            config=config,
            wiring=Wiring(
                alerts=alerts,
                storage=storage,
                tracker=self.tracker.state_machine,
                drill=self.drill.state_machine,
                layer=layer,
                drill_service_role_arn=roles.service_role,
                drill_instance_profile_arn=roles.instance_profile,
                retry_prefix=retry_prefix(stack),
            ),
            log_groups=log_groups,
        )
        self.function = orchestrator.function
        self.orchestrator_role = orchestrator.role
        self.schedule = BackupSchedule(
            stack,
            config=config,
            function=orchestrator.function,
            function_role=orchestrator.role,
            dead_letters=storage.dead_letters,
        ).schedule
        self.monitoring = Monitoring(
            stack,
            "Monitoring",
            topic=alerts.topic,
            function=self.function,
            state_machine=self.tracker.state_machine,
            drill=self.drill.state_machine,
            dead_letters=storage.dead_letters,
            undelivered_alerts=alerts.undelivered,
            watchdog_hours=config.watchdog,
            rpo_hours=config.rpo,
        )
        self._build_outputs(alerts, storage)

    def _build_state_machines(
        self,
        config: Config,
        alerts: AlertTopic,
        storage: Storage,
        log_groups: LogGroups,
        roles: DrillRoles,
        layer: lambda_.ILayerVersion,
    ) -> tuple[Tracker, Drill]:
        tracker = Tracker(
            self.stack,
            "Tracker",
            topic=alerts.topic,
            layer=layer,
            timeout=Duration.seconds(config.tracker_timeout_seconds),
            log_groups=log_groups,
            log_level=config.tracker_log_level,
        )
        drill = Drill(
            self.stack,
            "Drill",
            topic=alerts.topic,
            history=storage.history,
            layer=layer,
            timeout=Duration.seconds(config.drill_timeout_seconds),
            log_groups=log_groups,
            log_level=config.tracker_log_level,
        )
        drill.may_pass([roles.service_role, roles.instance_role])
        for machine in (tracker.state_machine, drill.state_machine):
            may_alert(machine, alerts.key.key_arn, config.tracker_log_level)
        return tracker, drill

    def _build_outputs(self, alerts: AlertTopic, storage: Storage) -> None:
        CfnOutput(self.stack, "OrchestratorFunctionName", value=self.function.function_name)
        CfnOutput(
            self.stack, "TrackerStateMachineArn", value=self.tracker.state_machine.state_machine_arn
        )
        CfnOutput(
            self.stack, "DrillStateMachineArn", value=self.drill.state_machine.state_machine_arn
        )
        # Where `owcm-backup status` reads each server's last drill (HISTORY_TABLE).
        CfnOutput(self.stack, "HistoryTableName", value=storage.history.table_name)
        CfnOutput(self.stack, "AlertTopicArn", value=alerts.topic.topic_arn)
        # Alerts the topic could not deliver, and the alarm on them (ALERT_DELIVERY_ALARM for
        # `owcm-backup status`); a subscription added by hand can use the queue too.
        CfnOutput(self.stack, "AlertDeadLettersUrl", value=alerts.undelivered.queue_url)
        CfnOutput(self.stack, "AlertDeadLettersArn", value=alerts.undelivered.queue_arn)
        CfnOutput(
            self.stack,
            "AlertDeliveryAlarmName",
            value=self.monitoring.alerts_undelivered.alarm_name,
        )
        CfnOutput(self.stack, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        # What an operator pauses (docs/real-account.md: Pausing the schedule).
        CfnOutput(self.stack, "ScheduleName", value=self.schedule.schedule_name)
