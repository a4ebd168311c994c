"""The schedule: EventBridge Scheduler invokes the orchestrator at every slot of `schedule` in
`timeZone`, as its own role; the function may schedule its own retries of a slot's busy servers
(one-time schedules named with the stack's retry prefix), as that same role.

Added to the scope it is given (logical IDs `Schedule`, `SchedulerRole` stay what deployed
stacks know).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import Config
from infra.constructs.nag import acknowledge, acknowledge_rule, arn_of, inline_policy


def retry_prefix(scope: Construct) -> str:
    """The names of the one-time schedules that retry a slot's busy servers start with this."""
    return f"{Stack.of(scope).stack_name}-retry"[:30]


class BackupSchedule:
    """The schedule and its role, in `scope`; the function's leave to schedule retries."""

    def __init__(
        self,
        scope: Construct,
        *,
        config: Config,
        function: lambda_.Function,
        function_role: iam.Role,
        dead_letters: sqs.IQueue,
    ) -> None:
        self.role = iam.Role(
            scope,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description="Lets the schedule invoke the OpsWorks CM backup orchestrator",
        )
        self._build_retries(scope, function, function_role)
        self.schedule = self._build_schedule(scope, config, function, dead_letters)

    def _build_retries(
        self, scope: Construct, function: lambda_.Function, function_role: iam.Role
    ) -> None:
        """The function schedules its own retries of a slot's busy servers, as this role."""
        prefix = retry_prefix(scope)
        function.add_environment("RETRY_ROLE_ARN", self.role.role_arn)
        function_role.add_to_policy(
            iam.PolicyStatement(
                sid="ScheduleRetries",
                actions=["scheduler:CreateSchedule"],
                resources=[
                    f"arn:{Aws.PARTITION}:scheduler:{Aws.REGION}:{Aws.ACCOUNT_ID}:schedule/"
                    f"default/{prefix}-*"
                ],
            )
        )
        function_role.add_to_policy(
            iam.PolicyStatement(
                sid="PassRetryRole",
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            )
        )
        acknowledge(
            function_role,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:"
            f"<AWS::AccountId>:schedule/default/{prefix}-*]",
            "One-time schedules for a slot's retries, named per run and try: only names with "
            "the stack's retry prefix in the default group.",
        )
        acknowledge(
            self.role,
            f"AwsSolutions-IAM5[Resource::{arn_of(function)}:*]",
            "Invoking the orchestrator function's own versions and aliases (CDK grantInvoke).",
        )
        acknowledge_rule(
            self.role,
            "IAMNoInlinePolicy",
            inline_policy(
                "invoking the orchestrator function, and sending what it cannot deliver to the "
                "dead-letter queue"
            ),
        )

    def _build_schedule(
        self,
        scope: Construct,
        config: Config,
        function: lambda_.Function,
        dead_letters: sqs.IQueue,
    ) -> scheduler.Schedule:
        # The account's default schedule group: a group of our own would be retained by
        # `cdk destroy` under its generated name and block the next deploy.
        return scheduler.Schedule(
            scope,
            "Schedule",
            description="Runs the OpsWorks CM backup orchestrator",
            schedule=scheduler.ScheduleExpression.expression(
                config.schedule, TimeZone.of(config.time_zone)
            ),
            target=targets.LambdaInvoke(
                function,
                input=scheduler.ScheduleTargetInput.from_object(
                    {
                        "source": "schedule",
                        "scheduledTime": scheduler.ContextAttribute.scheduled_time,
                    }
                ),
                role=self.role,
                dead_letter_queue=dead_letters,
                retry_attempts=5,
                max_event_age=Duration.hours(6),
            ),
        )
