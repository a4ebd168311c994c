"""The stack: schedule -> orchestrator Lambda -> tracker state machine, with alerts and alarms."""

from __future__ import annotations

from typing import cast

from aws_cdk import (
    Acknowledgment,
    Aws,
    CfnElement,
    CfnOutput,
    Duration,
    RemovalPolicy,
    Stack,
    TimeZone,
    Validations,
)
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct, IConstruct

from infra.assets.code import function_code
from infra.assets.layer import layer_parameter, powertools_version
from infra.config import LOG_RETENTION_DAYS, Config
from infra.constructs.drill import Drill
from infra.constructs.monitoring import AlertTopic, Monitoring
from infra.constructs.state_machines import METRIC_NAMESPACE
from infra.constructs.tracker import Tracker

HANDLER = "backup_orchestrator.handlers.orchestrator.lambda_handler"
# OpsWorks CM has no resource-level permissions, so its statements must use Resource "*";
# least privilege is the smallest set of actions.
ORCHESTRATOR_OPSWORKSCM_ACTIONS = [
    "opsworks-cm:CreateBackup",
    "opsworks-cm:DeleteBackup",
    # A drill server left over from an earlier drill is deleted by the next scheduled run.
    "opsworks-cm:DeleteServer",
    "opsworks-cm:DescribeAccountAttributes",
    "opsworks-cm:DescribeBackups",
    "opsworks-cm:DescribeServers",
    "opsworks-cm:ListTagsForResource",
]
# The roles OpsWorks CM's console and documentation create (service role, instance profile and
# the role in it): what a drill may pass unless the drill context keys name others.
STANDARD_SERVICE_ROLE = "service-role/aws-opsworks-cm-service-role"
STANDARD_INSTANCE_PROFILE = "aws-opsworks-cm-ec2-role"
STANDARD_INSTANCE_ROLE = "service-role/aws-opsworks-cm-ec2-role"
NO_RESOURCE_LEVEL = (
    "OpsWorks CM supports no resource-level permissions or condition keys, so its actions can "
    "only be granted on Resource '*'; the statement lists only the actions the code calls."
)


def _ack(scope: IConstruct, rule: str, reason: str) -> None:
    Validations.of(scope).acknowledge(Acknowledgment(id=rule, reason=reason))


def _arn_of(construct: IConstruct) -> str:
    """How cdk-nag writes the ARN of a construct's resource in a finding id."""
    resource = cast(CfnElement, construct.node.default_child)
    return f"<{Stack.of(construct).get_logical_id(resource)}.Arn>"


def _state_machine_role(machine: sfn.StateMachine, key_arn: str, log_level: str) -> None:
    """What both state machines' roles have in common: the alert topic's key, and the reasons
    cdk-nag's findings on them are acknowledged."""
    # Publishing to a topic encrypted with a customer key needs the key.
    machine.role.add_to_principal_policy(
        iam.PolicyStatement(
            sid="AlertTopicKey",
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=[key_arn],
        )
    )
    _ack(
        machine.role,
        "AwsSolutions-IAM5[Resource::*]",
        NO_RESOURCE_LEVEL + " CloudWatch PutMetricData, X-Ray and the Step Functions log "
        "delivery actions also have no resource-level permissions.",
    )
    if log_level != "ALL":
        _ack(
            machine,
            "AwsSolutions-SF1",
            "The state machines log at trackerLogLevel (ERROR by default): logging ALL writes "
            "about 11 events per poll, while each execution's own history already keeps every "
            "event for 90 days. trackerLogLevel=ALL logs everything.",
        )


def _table(scope: Construct, construct_id: str) -> dynamodb.TableV2:
    """A small on-demand table keyed by `id`, whose items expire at `expiration`."""
    return dynamodb.TableV2(
        scope,
        construct_id,
        partition_key=dynamodb.Attribute(name="id", type=dynamodb.AttributeType.STRING),
        billing=dynamodb.Billing.on_demand(),
        time_to_live_attribute="expiration",
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        removal_policy=RemovalPolicy.DESTROY,
    )


class BackupOrchestratorStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: Config, **kwargs: object):
        super().__init__(scope, construct_id, **kwargs)  # type: ignore[arg-type]
        self.config = config
        retention = logs.RetentionDays[LOG_RETENTION_DAYS[config.log_retention_days]]

        alerts = AlertTopic(self, "Alerts", email=config.alert_email)

        dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        _ack(
            dead_letters,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the schedule and the function.",
        )

        table = _table(self, "Idempotency")
        # What the last runs did about each server: a miss is explained in later alerts.
        history = _table(self, "History")

        tracker = Tracker(
            self,
            "Tracker",
            topic=alerts.topic,
            timeout=Duration.seconds(config.tracker_timeout_seconds),
            log_retention=retention,
            log_level=config.tracker_log_level,
        )
        self.tracker = tracker
        drill = Drill(
            self,
            "Drill",
            topic=alerts.topic,
            history=history,
            timeout=Duration.seconds(config.drill_timeout_seconds),
            log_retention=retention,
            log_level=config.tracker_log_level,
        )
        self.drill = drill
        iam_arn = f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}"
        drill.may_pass(
            [
                config.drill_service_role_arn or f"{iam_arn}:role/{STANDARD_SERVICE_ROLE}",
                config.drill_instance_role_arn or f"{iam_arn}:role/{STANDARD_INSTANCE_ROLE}",
            ]
        )
        for machine in (tracker.state_machine, drill.state_machine):
            _state_machine_role(machine, alerts.key.key_arn, config.tracker_log_level)

        # Names of the one-time schedules that retry a slot's busy servers.
        retry_prefix = f"{self.stack_name}-retry"[:30]
        function_logs = logs.LogGroup(
            self, "OrchestratorLogs", retention=retention, removal_policy=RemovalPolicy.DESTROY
        )
        role = iam.Role(
            self,
            "OrchestratorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="OpsWorks CM backup orchestrator",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="OpsWorksCM", actions=ORCHESTRATOR_OPSWORKSCM_ACTIONS, resources=["*"]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[function_logs.log_group_arn, f"{function_logs.log_group_arn}:*"],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Tracker",
                actions=["states:StartExecution"],
                resources=[tracker.state_machine.state_machine_arn],
            )
        )
        # Start the due drills, and see which are still running (one per server at a time).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Drills",
                actions=["states:StartExecution", "states:ListExecutions"],
                resources=[drill.state_machine.state_machine_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="Idempotency",
                actions=[
                    "dynamodb:DeleteItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                resources=[table.table_arn],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="DeadLetters", actions=["sqs:SendMessage"], resources=[dead_letters.queue_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="History",
                actions=["dynamodb:Scan", "dynamodb:BatchWriteItem"],
                resources=[history.table_arn],
            )
        )
        # The compliance alert, to the topic encrypted with its own key.
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ComplianceAlert", actions=["sns:Publish"], resources=[alerts.topic.topic_arn]
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="AlertTopicKey",
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
                resources=[alerts.key.key_arn],
            )
        )
        _ack(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            NO_RESOURCE_LEVEL + " X-Ray trace submission also has no resource-level permissions.",
        )
        _ack(
            role,
            f"AwsSolutions-IAM5[Resource::{_arn_of(function_logs)}:*]",
            "Log streams of the function's own log group; their names are not known in advance.",
        )

        # The layer of the pinned Powertools release, looked up in the deploying region when
        # CloudFormation resolves the parameter; a given ARN serves partitions and regions
        # that do not publish it.
        powertools = lambda_.LayerVersion.from_layer_version_arn(
            self,
            "Powertools",
            config.powertools_layer_arn
            or ssm.StringParameter.value_for_string_parameter(
                self, layer_parameter(powertools_version())
            ),
        )
        self.function = lambda_.Function(
            self,
            "Orchestrator",
            description="Backs up tagged OpsWorks CM servers and prunes old manual backups",
            runtime=lambda_.Runtime.PYTHON_3_13,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=function_code(),
            layers=[powertools],
            role=role,
            memory_size=512,
            timeout=Duration.seconds(config.lambda_timeout_seconds),
            # 1 serializes runs; 0 (no reservation) suits accounts with a low concurrency
            # quota, where one run per slot still holds through the idempotency table.
            reserved_concurrent_executions=config.reserved_concurrency or None,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=function_logs,
            logging_format=lambda_.LoggingFormat.JSON,
            dead_letter_queue=dead_letters,
            retry_attempts=2,
            max_event_age=Duration.hours(1),
            environment={
                "AWS_DATA_PATH": "/var/task/models",
                "SELECT_TAG": config.select_tag,
                "RETAIN": str(config.retain),
                "PRUNE_SCOPE": config.prune_scope.value,
                "TRACKER_STATE_MACHINE_ARN": tracker.state_machine.state_machine_arn,
                "IDEMPOTENCY_TABLE": table.table_name,
                "POLL_SECONDS": str(config.poll_seconds),
                "DEADLINE_SECONDS": str(config.deadline_seconds),
                "POWERTOOLS_SERVICE_NAME": "opsworks-cm-backup",
                "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "RPO_HOURS": str(config.rpo),
                "COMPLIANCE_COUNTS_AUTOMATED": str(config.compliance_counts_automated).lower(),
                "HISTORY_TABLE": history.table_name,
                "ALERT_TOPIC_ARN": alerts.topic.topic_arn,
                "RETRY_WINDOW_MINUTES": str(config.retry_window),
                "RETRY_SCHEDULE_PREFIX": retry_prefix,
                "DEAD_LETTER_ARN": dead_letters.queue_arn,
                "DRILL_STATE_MACHINE_ARN": drill.state_machine.state_machine_arn,
                "RESTORE_DRILL": config.restore_drill.value,
                "DRILL_DEADLINE_SECONDS": str(config.drill_deadline_seconds),
                "DRILL_SERVICE_ROLE_ARN": config.drill_service_role_arn
                or f"{iam_arn}:role/{STANDARD_SERVICE_ROLE}",
                "DRILL_INSTANCE_PROFILE_ARN": config.drill_instance_profile_arn
                or f"{iam_arn}:instance-profile/{STANDARD_INSTANCE_PROFILE}",
            },
        )
        _ack(
            self.function,
            "AwsSolutions-L1",
            "The runtime is pinned to Python 3.13 together with the Powertools layer flavour "
            "(python313) and the version the tests run; they move together, deliberately.",
        )

        scheduler_role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="Lets the schedule invoke the OpsWorks CM backup orchestrator",
        )
        # The function schedules its own retries of a slot's busy servers, as this role.
        self.function.add_environment("RETRY_ROLE_ARN", scheduler_role.role_arn)
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ScheduleRetries",
                actions=["scheduler:CreateSchedule"],
                resources=[
                    f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:schedule/"
                    f"default/{retry_prefix}-*"
                ],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PassRetryRole",
                actions=["iam:PassRole"],
                resources=[scheduler_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
        _ack(
            role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:"
            f"<AWS::AccountId>:schedule/default/{retry_prefix}-*]",
            "One-time schedules for a slot's retries, named per run and try: only names with "
            "the stack's retry prefix in the default group.",
        )
        _ack(
            scheduler_role,
            f"AwsSolutions-IAM5[Resource::{_arn_of(self.function)}:*]",
            "Invoking the orchestrator function's own versions and aliases (CDK grantInvoke).",
        )
        # The account's default schedule group: a group of our own would be retained by
        # `cdk destroy` under its generated name and block the next deploy.
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description="Runs the OpsWorks CM backup orchestrator",
            schedule=scheduler.ScheduleExpression.expression(
                config.schedule, TimeZone.of(config.time_zone)
            ),
            target=targets.LambdaInvoke(
                self.function,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "source": "schedule",
                        "scheduledTime": scheduler.ContextAttribute.scheduled_time,
                    }
                ),
                role=scheduler_role,
                dead_letter_queue=dead_letters,
                retry_attempts=5,
                max_event_age=Duration.hours(6),
            ),
        )

        self.monitoring = Monitoring(
            self,
            "Monitoring",
            topic=alerts.topic,
            function=self.function,
            state_machine=tracker.state_machine,
            drill=drill.state_machine,
            dead_letters=dead_letters,
            watchdog_hours=config.watchdog,
            rpo_hours=config.rpo,
        )

        CfnOutput(self, "OrchestratorFunctionName", value=self.function.function_name)
        CfnOutput(self, "TrackerStateMachineArn", value=tracker.state_machine.state_machine_arn)
        CfnOutput(self, "DrillStateMachineArn", value=drill.state_machine.state_machine_arn)
        # Where `owcm-backup status` reads each server's last drill (HISTORY_TABLE).
        CfnOutput(self, "HistoryTableName", value=history.table_name)
        CfnOutput(self, "AlertTopicArn", value=alerts.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.monitoring.dashboard.dashboard_name)
        # What an operator pauses (README: Deploying to a real account).
        CfnOutput(self, "ScheduleName", value=self.schedule.schedule_name)
