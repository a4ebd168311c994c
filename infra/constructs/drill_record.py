"""The end of a restore drill: its metrics, its record in the history table, its alert.

After the cleanup (infra/drill.py) the state holds `result` (outcome, ok, drilled, seconds, line)
and `cleanup` (confirmed, and a line when not). A good drill counts RestoreDrillsSucceeded and its
recovery time, RestoreDrillSeconds; a failed, timed-out or erred one RestoreDrillsFailed; a
cleanup that failed RestoreDrillCleanupFailures. The result becomes the history table's item
`drill#<server>`. Anything but a clean drill publishes one alert (URGENT for a server left
running) and fails the execution; a drill that created nothing (SKIPPED) only records why.
"""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.state_machines import metric, retry

# Inside a States.Format string: no single quotes.
WHAT_TO_DO = (
    "What to do: FAILED or TIMED_OUT means the backup could not be restored into a working "
    "server within the deadline: restore it by hand (aws opsworkscm create-server with "
    "--backup-id) to see why, and make sure a newer backup restores; until then, treat the "
    "server as without a proven backup. ERROR is the drill itself failing (a permission, an "
    "answer of the service): the line above says which. The server is drilled again when it is "
    "next due."
)


def record_and_alert(
    scope: Construct, *, topic: sns.ITopic, history: dynamodb.ITableV2
) -> sfn.Choice:
    """The states that record a drill and alert on it; returns the first."""
    source, drill = "$.sourceServer", "$.drillServer"
    remember = tasks.DynamoPutItem(
        scope,
        "RememberDrill",
        table=history,
        item={
            "id": tasks.DynamoAttributeValue.from_string(
                sfn.JsonPath.format("drill#{}", sfn.JsonPath.string_at(source))
            ),
            "result": _string("$.result.outcome"),
            "startedAt": _string("$.startedAt"),
            "seconds": _number("$.result.seconds"),
            "backupId": _string("$.backupId"),
            "backupAgeSeconds": _number("$.backupAgeSeconds"),
            "drillServer": _string(drill),
            "cleanupConfirmed": tasks.DynamoAttributeValue.boolean_from_json_path(
                sfn.JsonPath.string_at("$.cleanup.confirmed")
            ),
            "line": _string("$.result.line"),
            "execution": _string("$$.Execution.Id"),
            "expiration": _number("$.expiration"),
        },
        result_path=sfn.JsonPath.DISCARD,
    )
    retry(remember, ["States.TaskFailed"])
    # A record that cannot be written is skipped, and the alert still goes.
    remember_skipped = sfn.Pass(scope, "RememberDrillSkipped")
    remember.add_catch(remember_skipped, errors=["States.ALL"], result_path=sfn.JsonPath.DISCARD)
    alert = tasks.SnsPublish(
        scope,
        "Alert",
        topic=topic,
        subject=sfn.JsonPath.string_at("$.alert.subject"),
        message=sfn.TaskInput.from_json_path_at("$.alert.message"),
        result_path=sfn.JsonPath.DISCARD,
    )
    retry(alert, ["States.TaskFailed"])
    alert.next(
        sfn.Fail(
            scope,
            "DrillNeedsAttention",
            error="DrillNeedsAttention",
            cause="The restore drill failed, timed out, erred, or its server was not deleted.",
        )
    )
    urgent = sfn.Pass(
        scope,
        "UrgentAlert",
        parameters={
            "subject": "URGENT: OpsWorks CM restore drill server left running",
            "message.$": "States.Format('{}\n\nThe drill: {}', $.cleanup.line, $.result.line)",
        },
        result_path="$.alert",
    )
    drill_alert = sfn.Pass(
        scope,
        "FailedDrillAlert",
        parameters={
            "subject": "OpsWorks CM restore drill failed",
            "message.$": "States.Format('Restore drill of {} (run {}), {}:\n\n{}\n\nThe drill "
            "server was deleted and is gone.\n\n" + WHAT_TO_DO + "', $.sourceServer, "
            "$.runId, $.result.outcome, $.result.line)",
        },
        result_path="$.alert",
    )
    urgent.next(alert)
    drill_alert.next(alert)
    cleaned = sfn.Condition.boolean_equals("$.cleanup.confirmed", True)
    needs_attention = (
        sfn.Choice(scope, "NeedsAttention")
        .when(sfn.Condition.not_(cleaned), urgent)
        .when(sfn.Condition.boolean_equals("$.result.ok", True), sfn.Succeed(scope, "Done"))
        .when(sfn.Condition.boolean_equals("$.result.drilled", True), drill_alert)
        .otherwise(sfn.Succeed(scope, "NotDrilled"))
    )
    remember.next(needs_attention)
    remember_skipped.next(needs_attention)
    cleanup_metric = metric(scope, "RecordCleanupFailure", "RestoreDrillCleanupFailures", 1)
    cleanup_metric.next(remember)
    counted = (
        sfn.Choice(scope, "CleanupCounted")
        .when(sfn.Condition.not_(cleaned), cleanup_metric)
        .otherwise(remember)
    )
    succeeded = metric(scope, "RecordSuccess", "RestoreDrillsSucceeded", 1, per_server=source)
    succeeded.next(
        metric(
            scope,
            "RecordRecoveryTime",
            "RestoreDrillSeconds",
            "$.result.seconds",
            per_server=source,
        )
    ).next(counted)
    failure = metric(scope, "RecordFailure", "RestoreDrillsFailed", 1, per_server=source)
    failure.next(counted)
    return (
        sfn.Choice(scope, "Record")
        .when(sfn.Condition.boolean_equals("$.result.ok", True), succeeded)
        .when(sfn.Condition.boolean_equals("$.result.drilled", True), failure)
        .otherwise(counted)
    )


def _string(path: str) -> tasks.DynamoAttributeValue:
    return tasks.DynamoAttributeValue.from_string(sfn.JsonPath.string_at(path))


def _number(path: str) -> tasks.DynamoAttributeValue:
    return tasks.DynamoAttributeValue.number_from_string(
        sfn.JsonPath.format("{}", sfn.JsonPath.string_at(path))
    )
