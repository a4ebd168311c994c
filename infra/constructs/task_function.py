"""The function a state machine makes its OpsWorks CM calls through: the runtime's code (the
project's adapter: the carried model, one error model, pacing, retries), a role of its own with
exactly the `opsworks-cm:` actions it calls, and a log group of its own. The state machine's
retries and catches name its errors (contract/task_errors.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from backup_orchestrator.contract.limits import RETRIED, TASK_RETRIES
from infra.assets.code import RUNTIME, function_code
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

# Step Functions waits this much longer than the function's own timeout before it calls the
# invocation hung (States.Timeout, retried).
HANG_MARGIN_SECONDS = 30


class TaskFunction(Construct):
    """`Function`, its `Role` and its `Logs`, in a construct of their own."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        description: str,
        actions: Sequence[str],
        layer: lambda_.ILayerVersion,
        timeout_seconds: int,
        log_groups: LogGroups,
    ) -> None:
        super().__init__(scope, construct_id)
        self.timeout_seconds = timeout_seconds
        self.log_group = log_groups.create(self, "Logs")
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description,
        )
        logs_arn = self.log_group.log_group_arn
        self.role.add_to_policy(
            iam.PolicyStatement(sid="OpsWorksCM", actions=sorted(actions), resources=["*"])
        )
        self.role.add_to_policy(
            iam.PolicyStatement(
                sid="Logs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[logs_arn, f"{logs_arn}:*"],
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=function_code(),
            layers=[layer],
            role=self.role,
            memory_size=256,
            timeout=Duration.seconds(timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "AWS_DATA_PATH": "/var/task/models",
                "POWERTOOLS_SERVICE_NAME": "opsworks-cm-backup",
                "POWERTOOLS_METRICS_NAMESPACE": METRIC_NAMESPACE,
                "POWERTOOLS_LOG_LEVEL": "INFO",
            },
        )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            NO_RESOURCE_LEVEL + " X-Ray trace submission also has no resource-level permissions.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{arn_of(self.log_group)}:*]",
            "Log streams of the function's own log group; their names are not known in advance.",
        )
        self._acknowledge_nag()

    def _acknowledge_nag(self) -> None:
        """What a function only a state machine calls, synchronously, is acknowledged for."""
        acknowledge_rule(
            self.role,
            "IAMNoInlinePolicy",
            inline_policy(
                "the OpsWorks CM actions this function calls, and writing its own log group"
            ),
        )
        acknowledge_rule(
            self.function,
            "LambdaDLQ",
            "Step Functions invokes this function synchronously (RequestResponse), retries its "
            "errors and catches what remains in the state machine, which alerts; a dead-letter "
            "queue receives only failed asynchronous invocations, and this function has none.",
        )
        acknowledge_rule(
            self.function,
            "LambdaConcurrency",
            "Step Functions calls this function once per poll of each running execution, so the "
            "executions running bound its concurrency; a reservation would take capacity from "
            "the account's unreserved pool, which accounts with a low concurrency quota cannot "
            "spare, and protect nothing.",
        )
        acknowledge_rule(self.function, "LambdaInsideVPC", no_vpc("OpsWorks CM"))

    def invoked_by(self, machine: sfn.StateMachine) -> None:
        """Acknowledge what Step Functions grants the state machine that invokes this function:
        the function and its versions, and nothing else."""
        acknowledge(
            machine.role,
            f"AwsSolutions-IAM5[Resource::{arn_of(self.function)}:*]",
            "The state machine may invoke its own function and that function's versions "
            "(Step Functions' Lambda integration grants both); no other function.",
        )

    def task(
        self,
        scope: Construct,
        name: str,
        payload: dict[str, object],
        *,
        result_selector: dict[str, str] | None = None,
        result_path: str | None = None,
        output_path: str | None = None,
    ) -> tasks.LambdaInvoke:
        """A state that invokes the function with `payload`, retried only on what can pass
        (Lambda's transient errors, the service unavailable, a hung invocation)."""
        task = tasks.LambdaInvoke(
            scope,
            name,
            lambda_function=self.function,
            payload=sfn.TaskInput.from_object(payload),
            retry_on_service_exceptions=False,
            task_timeout=sfn.Timeout.duration(
                Duration.seconds(self.timeout_seconds + HANG_MARGIN_SECONDS)
            ),
            result_selector=result_selector,
            result_path=result_path,
            output_path=output_path,
        )
        task.add_retry(
            errors=list(RETRIED),
            interval=Duration.seconds(2),
            max_attempts=TASK_RETRIES,
            backoff_rate=2,
            max_delay=Duration.seconds(60),
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task
