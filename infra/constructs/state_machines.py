"""What the state machines are built from: retries, best-effort metrics, the metric namespace,
and the logged, traced Standard state machine itself."""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from backup_orchestrator.contract.limits import TASK_RETRIES
from infra.constructs.log_groups import LogGroups
from infra.constructs.nag import acknowledge, acknowledge_rule, inline_policy

METRIC_NAMESPACE = "OpsWorksCMBackup"
SERVICE_DIMENSION = {"Name": "service", "Value": "opsworks-cm-backup"}


def retry(task: sfn.TaskStateBase, errors: list[str]) -> sfn.TaskStateBase:
    """Retry `task` on `errors`, TASK_RETRIES times with a jittered backoff."""
    task.add_retry(
        errors=errors,
        interval=Duration.seconds(2),
        max_attempts=TASK_RETRIES,
        backoff_rate=2,
        max_delay=Duration.seconds(60),
        jitter_strategy=sfn.JitterType.FULL,
    )
    return task


def metric(
    scope: Construct, name: str, metric: str, value: Any, *, per_server: str | None = None
) -> sfn.Chain:
    """Record one data point: a count, or seconds read from the path `value`; with `per_server`
    (the path of a server's name) the same again for that server (dimension ServerName), which
    the dashboard searches for. Metrics are best effort and never fail what they count: the
    chain goes on to its next state whether the data point was recorded or skipped."""
    datum: dict[str, Any] = {
        "MetricName": metric,
        "Unit": "Count",
        "Dimensions": [SERVICE_DIMENSION],
    }
    if isinstance(value, str):
        datum["Value.$"] = value
        datum["Unit"] = "Seconds"
    else:
        datum["Value"] = value
    data = [datum]
    if per_server is not None:
        server = {"Name": "ServerName", "Value.$": per_server}
        data.append({**datum, "Dimensions": [SERVICE_DIMENSION, server]})
    task = tasks.CallAwsService(
        scope,
        name,
        service="cloudwatch",
        action="putMetricData",
        iam_action="cloudwatch:PutMetricData",
        iam_resources=["*"],
        parameters={"Namespace": METRIC_NAMESPACE, "MetricData": data},
        result_path=sfn.JsonPath.DISCARD,
    )
    retry(task, ["States.TaskFailed"])
    skipped = sfn.Pass(scope, f"{name}Skipped")
    task.add_catch(skipped, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    return sfn.Chain.custom(task, [task, skipped], task)


def logged_state_machine(
    scope: Construct,
    *,
    name: str,
    start: sfn.IChainable,
    timeout: Duration,
    log_groups: LogGroups,
    log_level: str,
    comment: str,
) -> tuple[sfn.StateMachine, logs.LogGroup]:
    """A Standard state machine (`StateMachine` in `scope`), traced, logging at `log_level` to
    its own group (`Logs`, one of `log_groups`) named `/aws/vendedlogs/states/<stack>-<name>`."""
    # Under /aws/vendedlogs/ Step Functions needs no CloudWatch Logs resource policy for the
    # group, whose size limit accounts with many logged state machines reach.
    log_group = log_groups.create(
        scope, "Logs", name=f"/aws/vendedlogs/states/{Stack.of(scope).stack_name}-{name}"
    )
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(start),
        state_machine_type=sfn.StateMachineType.STANDARD,
        timeout=timeout,
        tracing_enabled=True,
        # The execution data (server and backup names) is what makes a logged error useful.
        logs=sfn.LogOptions(
            destination=log_group,
            level=sfn.LogLevel[log_level],
            include_execution_data=log_level != "OFF",
        ),
        comment=comment,
    )
    return machine, log_group


def may_alert(machine: sfn.StateMachine, key_arn: str, log_level: str) -> None:
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
    acknowledge(
        machine.role,
        "AwsSolutions-IAM5[Resource::*]",
        "CloudWatch PutMetricData, X-Ray and the Step Functions log delivery actions have no "
        "resource-level permissions; the state machine calls OpsWorks CM only through its own "
        "function.",
    )
    acknowledge_rule(
        machine.role,
        "IAMNoInlinePolicy",
        inline_policy(
            "invoking its own function, publishing to the alert topic, and its metrics, logs "
            "and traces"
        ),
    )
    if log_level != "ALL":
        acknowledge(
            machine,
            "AwsSolutions-SF1",
            "The state machines log at trackerLogLevel (ERROR by default): logging ALL writes "
            "about 9 events per poll of a run (11 of a drill), while each execution's own "
            "history already keeps every event for 90 days. trackerLogLevel=ALL logs everything.",
        )
