"""The orchestrator function: its log group, its role (exactly the actions its code calls), the
Powertools layer it runs with, its environment (the settings contract/settings.py reads), and
where an asynchronous invocation that failed every try ends: the DeadLetters queue, as a record
that carries the error (its on-failure destination).

Added to the scope it is given (logical IDs `Orchestrator`, `OrchestratorRole`,
`OrchestratorLogs` stay what deployed stacks know).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsii
from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_ssm as ssm
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.assets.code import RUNTIME, function_code
from infra.assets.layer import layer_parameter, powertools_version
from infra.config import Config
from infra.constructs.alerts import AlertTopic
from infra.constructs.log_groups import LogGroups
from infra.constructs.nag import (
    NO_RESOURCE_LEVEL,
    acknowledge,
    acknowledge_rule,
    arn_of,
    inline_policy,
    no_vpc,
)
from infra.constructs.state_machines import METRIC_NAMESPACE
from infra.constructs.storage import Storage

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


@dataclass(frozen=True)
class Wiring:
    """What the function is told about the rest of the stack."""

    alerts: AlertTopic
    storage: Storage
    tracker: sfn.StateMachine
    drill: sfn.StateMachine
    layer: lambda_.ILayerVersion
    drill_service_role_arn: str
    drill_instance_profile_arn: str
    retry_prefix: str


def powertools_layer(scope: Construct, config: Config) -> lambda_.ILayerVersion:
    """The layer of the pinned Powertools release every function runs with, looked up in the
    deploying region when CloudFormation resolves the parameter; a given ARN serves partitions
    and regions that do not publish it."""
    return lambda_.LayerVersion.from_layer_version_arn(
        scope,
        "Powertools",
        config.powertools_layer_arn
        or ssm.StringParameter.value_for_string_parameter(
            scope, layer_parameter(powertools_version())
        ),
    )


class Orchestrator:
    """The function and its role and log group, in `scope`."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: Config,
        wiring: Wiring,
        log_groups: LogGroups,
    ) -> None:
        self.log_group = log_groups.create(scope, "OrchestratorLogs")
        self.role = self._build_role(scope, wiring)
        self.function = self._build_function(scope, config, wiring)

    def _build_role(self, scope: Construct, wiring: Wiring) -> iam.Role:
        role = iam.Role(
            scope,
            "OrchestratorRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="OpsWorks CM backup orchestrator",
        )
        logs_arn = self.log_group.log_group_arn
        key, topic = wiring.alerts.key.key_arn, wiring.alerts.topic.topic_arn
        idempotency = ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem"]
        for sid, actions, resources in (
            ("OpsWorksCM", ORCHESTRATOR_OPSWORKSCM_ACTIONS, ["*"]),
            ("Logs", ["logs:CreateLogStream", "logs:PutLogEvents"], [logs_arn, f"{logs_arn}:*"]),
            ("Tracker", ["states:StartExecution"], [wiring.tracker.state_machine_arn]),
            # Start the due drills, and see which are still running (one per server at a time).
            (
                "Drills",
                ["states:StartExecution", "states:ListExecutions"],
                [wiring.drill.state_machine_arn],
            ),
            (
                "Idempotency",
                [*idempotency, "dynamodb:UpdateItem"],
                [wiring.storage.idempotency.table_arn],
            ),
            # The on-failure destination: Lambda sends the record as the function's role.
            ("DeadLetters", ["sqs:SendMessage"], [wiring.storage.dead_letters.queue_arn]),
            (
                "History",
                ["dynamodb:Scan", "dynamodb:BatchWriteItem"],
                [wiring.storage.history.table_arn],
            ),
            # The compliance alert, to the topic encrypted with its own key.
            ("ComplianceAlert", ["sns:Publish"], [topic]),
            ("AlertTopicKey", ["kms:Decrypt", "kms:GenerateDataKey"], [key]),
        ):
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        acknowledge(
            role,
            "AwsSolutions-IAM5[Resource::*]",
            NO_RESOURCE_LEVEL + " X-Ray trace submission also has no resource-level permissions.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{arn_of(self.log_group)}:*]",
            "Log streams of the function's own log group; their names are not known in advance.",
        )
        acknowledge_rule(
            role,
            "IAMNoInlinePolicy",
            inline_policy(
                "the calls the orchestrator function makes, each on this stack's resources or, "
                "for OpsWorks CM, as the actions alone"
            ),
        )
        return role

    def _build_function(self, scope: Construct, config: Config, wiring: Wiring) -> lambda_.Function:
        function = lambda_.Function(
            scope,
            "Orchestrator",
            description="Backs up tagged OpsWorks CM servers and prunes old manual backups",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=function_code(),
            layers=[wiring.layer],
            role=self.role,
            memory_size=512,
            timeout=Duration.seconds(config.lambda_timeout_seconds),
            # 1 serializes runs; 0 (no reservation) suits accounts with a low concurrency
            # quota, where one run per slot still holds through the idempotency table.
            reserved_concurrent_executions=config.reserved_concurrency or None,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            retry_attempts=2,
            max_event_age=Duration.hours(1),
            on_failure=_Queue(wiring.storage.dead_letters),
            environment=_environment(config, wiring),
        )
        acknowledge_rule(
            function,
            "LambdaDLQ",
            "An asynchronous invocation that failed every try (the schedule's, a retry "
            "schedule's) goes to the on-failure destination, the DeadLetters queue, as a record "
            "that carries the error; a dead-letter configuration as well would put the same "
            "failure there a second time, as the bare event.",
        )
        acknowledge_rule(
            function,
            "LambdaInsideVPC",
            no_vpc("OpsWorks CM, Step Functions, DynamoDB, SNS and EventBridge Scheduler"),
        )
        if not config.reserved_concurrency:
            acknowledge_rule(
                function,
                "LambdaConcurrency",
                "reservedConcurrency is 0 in this deployment, for an account whose concurrency "
                "quota leaves no room to reserve; one backup per server and slot still holds "
                "through the idempotency table (safety rule 5).",
            )
        return function


@jsii.implements(lambda_.IDestination)
class _Queue:
    """An SQS queue as an on-failure destination, sent to with the permission the role's
    `DeadLetters` statement already gives (CDK's SqsDestination would add two read actions
    Lambda does not use)."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self._queue = queue

    # jsii hands the destination options over positionally, not as the keywords its stub declares.
    def bind(self, *_scope_function_options: Any, **_keywords: Any) -> lambda_.DestinationConfig:
        return lambda_.DestinationConfig(destination=self._queue.queue_arn)


def _environment(config: Config, wiring: Wiring) -> dict[str, str]:
    """The function's settings (contract/settings.py): the configuration's
    (Config.function_settings) and the stack's resources, in the order the template has always
    listed them."""
    decided = config.function_settings()
    return {
        "AWS_DATA_PATH": "/var/task/models",
        "SELECT_TAG": decided["SELECT_TAG"],
        "RETENTION": decided["RETENTION"],
        "TIME_ZONE": decided["TIME_ZONE"],
        "PRUNE_SCOPE": decided["PRUNE_SCOPE"],
        "TRACKER_STATE_MACHINE_ARN": wiring.tracker.state_machine_arn,
        "IDEMPOTENCY_TABLE": wiring.storage.idempotency.table_name,
        "POLL_SECONDS": decided["POLL_SECONDS"],
        "DEADLINE_SECONDS": decided["DEADLINE_SECONDS"],
        "POWERTOOLS_SERVICE_NAME": "opsworks-cm-backup",
        "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "RPO_HOURS": decided["RPO_HOURS"],
        "COMPLIANCE_COUNTS_AUTOMATED": decided["COMPLIANCE_COUNTS_AUTOMATED"],
        "HISTORY_TABLE": wiring.storage.history.table_name,
        "ALERT_TOPIC_ARN": wiring.alerts.topic.topic_arn,
        "RETRY_WINDOW_MINUTES": decided["RETRY_WINDOW_MINUTES"],
        "RETRY_SCHEDULE_PREFIX": wiring.retry_prefix,
        "DEAD_LETTER_ARN": wiring.storage.dead_letters.queue_arn,
        "DRILL_STATE_MACHINE_ARN": wiring.drill.state_machine_arn,
        "RESTORE_DRILL": decided["RESTORE_DRILL"],
        "DRILL_DEADLINE_SECONDS": decided["DRILL_DEADLINE_SECONDS"],
        "DRILL_SERVICE_ROLE_ARN": wiring.drill_service_role_arn,
        "DRILL_INSTANCE_PROFILE_ARN": wiring.drill_instance_profile_arn,
    }
