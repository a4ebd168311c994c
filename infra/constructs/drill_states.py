"""The drill's states, built one kind at a time: the results a drill can end with (each an
outcome and a line the record and the alert quote), DescribeServers and CreateServer tasks, the
poll clocks, and the check that a server is this execution's own. infra/constructs/drill.py
wires them into the state machine.

JSONPath only, `States.ArrayGetItem(...[*]...)` for a single value (moto).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from backup_orchestrator.contract.limits import DRILL_EXECUTION
from infra.constructs.state_machines import retry

NOT_FOUND = ["OpsWorksCm.ResourceNotFoundException"]
IDLE = ("RUNNING", "HEALTHY", "UNHEALTHY")
# Inside a States.Format string: no single quotes.
CLEANUP_TO_DO = (
    "It is still running and costs money: delete it now (aws opsworkscm delete-server "
    "--server-name {}) and check that it is gone (aws opsworkscm describe-servers)."
)


SOURCE, BACKUP, DRILL = "$.sourceServer", "$.backupId", "$.drillServer"
# Every result a drill can end with, by state name: its outcome (SKIPPED: nothing was created),
# and a line (a States.Format template and its arguments) that the record and the alert quote.
RESULTS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Restored": (
        "OK",
        "{}: backup {} ({} s old) restored into {}: HEALTHY after {} s.",
        (SOURCE, BACKUP, "$.backupAgeSeconds", DRILL, "$.clocks.server.elapsed"),
    ),
    "RestoreFailed": (
        "FAILED",
        "{}: the server restored from backup {} ({}) ended FAILED after {} s: {}.",
        (SOURCE, BACKUP, DRILL, "$.clocks.server.elapsed", "States.JsonToString($.server.reasons)"),
    ),
    "RestoreTimedOut": (
        "TIMED_OUT",
        "{}: the server restored from backup {} ({}) was still {} after {} s, the deadline.",
        (SOURCE, BACKUP, DRILL, "$.server.status", "$.clocks.server.elapsed"),
    ),
    "DrillError": (
        "ERROR",
        "{}: the drill of backup {} could not go on: {}: {}",
        (SOURCE, BACKUP, "$.error.Error", "$.error.Cause"),
    ),
    "DrillServerVanished": (
        "ERROR",
        "{}: the drill server {} vanished while it was being created from backup {}.",
        (SOURCE, DRILL, BACKUP),
    ),
    "NameTaken": (
        "ERROR",
        "{}: a server named {} already exists and was not created by this drill (its tag "
        + DRILL_EXECUTION
        + " does not name this execution), so nothing was restored; that server was left alone.",
        (SOURCE, DRILL),
    ),
    "SourceBusy": (
        "SKIPPED",
        "{}: still {} after {} s, so no drill server was created; the next run tries again.",
        (SOURCE, "$.source.status", "$.clocks.source.elapsed"),
    ),
    "SourceGone": (
        "SKIPPED",
        "{}: the server no longer exists, so no drill server was created.",
        (SOURCE,),
    ),
    "NoFreeSlot": (
        "SKIPPED",
        "{}: no free server slot ({} of {} used; one is kept free for you), so no drill server "
        "was created.",
        (SOURCE, "$.slots.used", "$.slots.maximum"),
    ),
    "SlotTaken": (
        "SKIPPED",
        "{}: CreateServer found no free server slot ({}), so no drill server was created.",
        (SOURCE, "$.error.Cause"),
    ),
}


def describe_server(scope: Construct, name: str, server: str, result: str) -> tasks.CallAwsService:
    """DescribeServers of the server named at path `server`, its Status (and StatusReasons, as
    a list: the field is not always there) at path `result`; throttling is ridden out."""
    task = tasks.CallAwsService(
        scope,
        name,
        service="opsworkscm",
        action="describeServers",
        iam_action="opsworks-cm:DescribeServers",
        iam_resources=["*"],
        parameters={"ServerName.$": server},
        result_selector={
            "status.$": "States.ArrayGetItem($.Servers[*].Status, 0)",
            "reasons.$": "$.Servers[*].StatusReason",
        },
        result_path=result,
    )
    retry(task)
    return task


def count_poll(scope: Construct, name: str, clock: str) -> sfn.Pass:
    """Count one poll of pollSeconds on the clock `$.clocks.<clock>`."""
    return sfn.Pass(
        scope,
        name,
        parameters={
            "elapsed.$": f"States.MathAdd($.clocks.{clock}.elapsed, $.pollSeconds)",
        },
        result_path=f"$.clocks.{clock}",
    )


def drill_result(scope: Construct, name: str, outcome: str, line: str, *args: str) -> sfn.Pass:
    """The drill's result: its outcome, whether it counts as a drill (not SKIPPED), the seconds
    the server was followed (the recovery time when OK), and a readable line."""
    return sfn.Pass(
        scope,
        name,
        parameters={
            "outcome": outcome,
            "ok": outcome == "OK",
            "drilled": outcome != "SKIPPED",
            "seconds.$": "$.clocks.server.elapsed",
            "line.$": f"States.Format('{line}', {', '.join(args)})",
        },
        result_path="$.result",
    )


def create_server(scope: Construct, name: str, keys: tuple[str, ...]) -> tasks.CallAwsService:
    """CreateServer with the parameters at `$.create` named by `keys`, and never automated
    backups of its own, whatever the input says."""
    parameters: dict[str, Any] = {f"{key}.$": f"$.create.{key}" for key in keys}
    parameters["DisableAutomatedBackup"] = True
    task = tasks.CallAwsService(
        scope,
        name,
        service="opsworkscm",
        action="createServer",
        iam_action="opsworks-cm:CreateServer",
        iam_resources=["*"],
        parameters=parameters,
        result_path=sfn.JsonPath.DISCARD,
    )
    retry(task)
    return task


def owner_check(
    scope: Construct,
    prefix: str,
    *,
    ours: sfn.IChainable,
    not_ours: sfn.IChainable,
    gone: sfn.IChainable,
    failed: sfn.IChainable,
    error_path: str,
) -> sfn.IChainable:
    """Whether the server named at $.drillServer is this execution's: its ARN (DescribeServers),
    its tags (ListTagsForResource), and its drill-execution tag, which must name this very
    execution. A server the drill cannot prove its own is never followed or deleted."""
    find = tasks.CallAwsService(
        scope,
        f"{prefix}FindServer",
        service="opsworkscm",
        action="describeServers",
        iam_action="opsworks-cm:DescribeServers",
        iam_resources=["*"],
        parameters={"ServerName.$": DRILL},
        result_selector={"arn.$": "States.ArrayGetItem($.Servers[*].ServerArn, 0)"},
        result_path="$.owner",
    )
    read_tags = tasks.CallAwsService(
        scope,
        f"{prefix}ReadTags",
        service="opsworkscm",
        action="listTagsForResource",
        iam_action="opsworks-cm:ListTagsForResource",
        iam_resources=["*"],
        parameters={"ResourceArn.$": "$.owner.arn"},
        # The answer as it is: a path that matches nothing (a server without tags) would be a
        # States.Runtime error, which no Catch takes.
        result_path="$.owner.tagged",
    )
    for task in (find, read_tags):
        retry(task)
        task.add_catch(gone, errors=NOT_FOUND, result_path=sfn.JsonPath.DISCARD)
        task.add_catch(failed, errors=["States.ALL"], result_path=error_path)
    # The execution's ARN among the tag values: the drill-execution tag this drill gave it.
    compare = sfn.Pass(
        scope,
        f"{prefix}CompareOwner",
        parameters={
            "ours.$": "States.ArrayContains($.owner.tagged.Tags[*].Value, $$.Execution.Id)"
        },
        result_path="$.owner",
    )
    compare.next(
        sfn.Choice(scope, f"{prefix}IsOurs")
        .when(sfn.Condition.boolean_equals("$.owner.ours", True), ours)
        .otherwise(not_ours)
    )
    return find.next(read_tags).next(
        sfn.Choice(scope, f"{prefix}HasTags")
        .when(sfn.Condition.is_present("$.owner.tagged.Tags[0]"), compare)
        .otherwise(not_ours)
    )


def results(scope: Construct) -> dict[str, sfn.Pass]:
    """Every result state of RESULTS, by name."""
    return {
        name: drill_result(scope, name, outcome, line, *args)
        for name, (outcome, line, args) in RESULTS.items()
    }
