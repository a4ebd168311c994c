"""The drill's states, built one kind at a time: the results a drill can end with (each an
outcome and a line the record and the alert quote), the tasks that ask the drill's function for
a server's status and to create one, the poll clocks, and the check that a server is this
execution's own. infra/constructs/drill.py wires them into the state machine.

JSONPath only (moto's interpreter runs no JSONata).
"""

from __future__ import annotations

from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from backup_orchestrator.contract.limits import DRILL_EXECUTION, ServerNotFound
from infra.constructs.task_function import TaskFunction

NOT_FOUND = [ServerNotFound.__name__]
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


def describe_server(
    scope: Construct, calls: TaskFunction, name: str, server: str, result: str
) -> tasks.LambdaInvoke:
    """The status of the server named at path `server` (and its StatusReason, as a list: the
    field is not always there) at path `result`, from the drill's function."""
    return calls.task(
        scope,
        name,
        {"action": "status", "serverName": sfn.JsonPath.string_at(server)},
        result_selector={"status.$": "$.Payload.status", "reasons.$": "$.Payload.reasons"},
        result_path=result,
    )


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


def create_server(scope: Construct, calls: TaskFunction, name: str) -> tasks.LambdaInvoke:
    """CreateServer with the parameters at `$.create` a drill copies, and never automated
    backups of its own, whatever the input says (run/drill_tasks.py); a server found after a
    lost answer counts as created only when it carries this execution's tag."""
    return calls.task(
        scope,
        name,
        {
            "action": "create",
            "create": sfn.JsonPath.object_at("$.create"),
            "execution": sfn.JsonPath.execution_id,
        },
        result_path=sfn.JsonPath.DISCARD,
    )


def owner_check(
    scope: Construct,
    calls: TaskFunction,
    prefix: str,
    *,
    ours: sfn.IChainable,
    not_ours: sfn.IChainable,
    gone: sfn.IChainable,
    failed: sfn.IChainable,
    error_path: str,
) -> sfn.IChainable:
    """Whether the server named at $.drillServer is this execution's: its drill-execution tag
    must name this very execution (the function reads the server and its tags). A server the
    drill cannot prove its own is never followed or deleted."""
    find = calls.task(
        scope,
        f"{prefix}FindOwner",
        {
            "action": "owner",
            "serverName": sfn.JsonPath.string_at(DRILL),
            "execution": sfn.JsonPath.execution_id,
        },
        result_selector={"ours.$": "$.Payload.ours"},
        result_path="$.owner",
    )
    find.add_catch(gone, errors=NOT_FOUND, result_path=sfn.JsonPath.DISCARD)
    find.add_catch(failed, errors=["States.ALL"], result_path=error_path)
    return find.next(
        sfn.Choice(scope, f"{prefix}IsOurs")
        .when(sfn.Condition.boolean_equals("$.owner.ours", True), ours)
        .otherwise(not_ours)
    )


def results(scope: Construct) -> dict[str, sfn.Pass]:
    """Every result state of RESULTS, by name."""
    return {
        name: drill_result(scope, name, outcome, line, *args)
        for name, (outcome, line, args) in RESULTS.items()
    }
