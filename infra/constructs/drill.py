"""The restore drill state machine: restores one backup into a temporary server, measures how long
it takes to be HEALTHY, always deletes the server and confirms it is gone, records, alerts.

Input (backup_orchestrator.domain.drill_servers.execution_input):
    {"runId", "startedAt", "sourceServer", "drillServer", "backupId", "backupAgeSeconds",
     "pollSeconds", "deadlineSeconds", "cleanupSeconds", "expiration",
     "create": {CreateServer's parameters}}

1. Wait, polling DescribeServers, until the source server is RUNNING, HEALTHY or UNHEALTHY (the
   run that started the drill has just started its backup): never a drill while it is being
   backed up or restored. Then DescribeAccountAttributes: a slot must stay free for the operator.
   Either not so within the deadline: nothing is created, the result is SKIPPED.
2. CreateServer from the backup, then poll DescribeServers every pollSeconds to HEALTHY (OK, the
   time counted is the recovery time) or FAILED, or to the deadline (TIMED_OUT). Any error on the
   way (Catch States.ALL) is an ERROR, and goes on to the cleanup like every other result. When
   the name is taken, the server is followed only if its tag drill-execution names this very
   execution (a retry after a lost answer); another server of the name is never touched.
3. Cleanup, always: only a server carrying this execution's tag is deleted (another of the name
   is left alone; but if this drill created a server and cannot find it as its own, that is
   URGENT). DeleteServer, then poll until DescribeServers says it does not exist, asking again
   while it is not DELETING (an InvalidState while it is still changing), at most
   cleanupSeconds; past that the cleanup failed.
4. Metrics (RestoreDrillsSucceeded and RestoreDrillSeconds, or RestoreDrillsFailed, each also per
   server; RestoreDrillCleanupFailures), the result as the item `drill#<server>` of the history
   table, and an alert for anything but a clean drill: a failed cleanup is URGENT (a server left
   running costs money). A drill that needs attention fails the execution.

Time is counted in polls (pollSeconds each), like the tracker: Step Functions' JSONPath has no
clock arithmetic. JSONPath only, `States.ArrayGetItem(...[*]...)` for a single value (moto).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from backup_orchestrator.contract.limits import COPIED, DRILL_EXECUTION, OPTIONAL
from infra.constructs.drill_record import record_and_alert
from infra.constructs.state_machines import logged_state_machine, retry

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


def _describe(scope: Construct, name: str, server: str, result: str) -> tasks.CallAwsService:
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


def _tick(scope: Construct, name: str, clock: str) -> sfn.Pass:
    """Count one poll of pollSeconds on the clock `$.clocks.<clock>`."""
    return sfn.Pass(
        scope,
        name,
        parameters={
            "elapsed.$": f"States.MathAdd($.clocks.{clock}.elapsed, $.pollSeconds)",
        },
        result_path=f"$.clocks.{clock}",
    )


def _result(scope: Construct, name: str, outcome: str, line: str, *args: str) -> sfn.Pass:
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


def _create(scope: Construct, name: str, keys: tuple[str, ...]) -> tasks.CallAwsService:
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


def _owner_check(
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


class Drill(Construct):
    """The Standard state machine that runs one restore drill."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        history: dynamodb.ITableV2,
        timeout: Duration,
        log_retention: logs.RetentionDays,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        source, drill = SOURCE, DRILL

        results = {
            name: _result(self, name, outcome, line, *args)
            for name, (outcome, line, args) in RESULTS.items()
        }
        healthy, failed, timed_out = (
            results[n] for n in ("Restored", "RestoreFailed", "RestoreTimedOut")
        )
        errored, vanished = results["DrillError"], results["DrillServerVanished"]

        # ---- 1. wait for the source to be idle, and for a slot ----------------------------
        check_source = _describe(self, "CheckSource", source, "$.source")
        check_source.add_catch(results["SourceGone"], errors=NOT_FOUND, result_path="$.error")
        check_source.add_catch(errored, errors=["States.ALL"], result_path="$.error")
        wait_source = sfn.Wait(
            self, "WaitForSource", time=sfn.WaitTime.seconds_path("$.pollSeconds")
        )
        wait_source.next(_tick(self, "CountSourceTime", "source")).next(check_source)

        slots = tasks.CallAwsService(
            self,
            "CheckSlots",
            service="opsworkscm",
            action="describeAccountAttributes",
            iam_action="opsworks-cm:DescribeAccountAttributes",
            iam_resources=["*"],
            parameters={},
            result_selector={
                "used.$": "States.ArrayGetItem($.Attributes[?(@.Name == 'ServerLimit')].Used, 0)",
                "maximum.$": (
                    "States.ArrayGetItem($.Attributes[?(@.Name == 'ServerLimit')].Maximum, 0)"
                ),
            },
            result_path="$.slots",
        )
        retry(slots)
        slots.add_catch(errored, errors=["States.ALL"], result_path="$.error")
        # The drill's server and one for the operator.
        needed = sfn.Pass(
            self,
            "CountSlots",
            parameters={
                "used.$": "$.slots.used",
                "maximum.$": "$.slots.maximum",
                "needed.$": "States.MathAdd($.slots.used, 2)",
            },
            result_path="$.slots",
        )

        # ---- 2. create from the backup, follow to HEALTHY or FAILED -----------------------
        wait_server = sfn.Wait(
            self, "WaitForDrillServer", time=sfn.WaitTime.seconds_path("$.pollSeconds")
        )
        creates = [
            _create(self, "CreateDrillServer", (*COPIED, "ServerName", "BackupId", "Tags")),
            _create(
                self,
                "CreateDrillServerWithKeyPair",
                (*COPIED, *OPTIONAL, "ServerName", "BackupId", "Tags"),
            ),
        ]
        # From here on the drill has a server of its own: one it cannot prove gone is urgent.
        created = sfn.Pass(
            self,
            "DrillServerCreated",
            result=sfn.Result.from_boolean(True),
            result_path="$.created",
        )
        created.next(wait_server)
        # The name is taken: by the server a retry after a lost answer made (it carries this
        # execution's tag, and is followed), or by a server that is not this drill's.
        taken = _owner_check(
            self,
            "Taken",
            ours=created,
            not_ours=results["NameTaken"],
            gone=vanished,
            failed=errored,
            error_path="$.error",
        )
        for create in creates:
            create.add_catch(
                taken,
                errors=["OpsWorksCm.ResourceAlreadyExistsException"],
                result_path=sfn.JsonPath.DISCARD,
            )
            create.add_catch(
                results["SlotTaken"],
                errors=["OpsWorksCm.LimitExceededException"],
                result_path="$.error",
            )
            create.add_catch(errored, errors=["States.ALL"], result_path="$.error")
            create.next(created)
        check_server = _describe(self, "CheckDrillServer", drill, "$.server")
        check_server.add_catch(vanished, errors=NOT_FOUND, result_path="$.error")
        check_server.add_catch(errored, errors=["States.ALL"], result_path="$.error")
        status = "$.server.status"
        wait_server.next(check_server).next(_tick(self, "CountRestoreTime", "server")).next(
            sfn.Choice(self, "RestoreDone")
            .when(sfn.Condition.string_equals(status, "HEALTHY"), healthy)
            .when(sfn.Condition.string_equals(status, "FAILED"), failed)
            .when(
                sfn.Condition.number_greater_than_equals_json_path(
                    "$.clocks.server.elapsed", "$.deadlineSeconds"
                ),
                timed_out,
            )
            .otherwise(wait_server)
        )

        # ---- 3. cleanup, always -----------------------------------------------------------
        delete = tasks.CallAwsService(
            self,
            "DeleteDrillServer",
            service="opsworkscm",
            action="deleteServer",
            iam_action="opsworks-cm:DeleteServer",
            iam_resources=["*"],
            parameters={"ServerName.$": drill},
            result_path=sfn.JsonPath.DISCARD,
        )
        retry(delete)
        gone = sfn.Pass(
            self, "DrillServerGone", parameters={"confirmed": True}, result_path="$.cleanup"
        )
        left = sfn.Pass(
            self,
            "CleanupFailed",
            parameters={
                "confirmed": False,
                "line.$": "States.Format('URGENT: the drill server {} could not be deleted, or "
                "its deletion confirmed, within {} s. " + CLEANUP_TO_DO + "', $.drillServer, "
                "$.cleanupSeconds, $.drillServer)",
            },
            result_path="$.cleanup",
        )
        wait_gone = sfn.Wait(
            self, "WaitForDeletion", time=sfn.WaitTime.seconds_path("$.pollSeconds")
        )
        delete.add_catch(gone, errors=NOT_FOUND, result_path=sfn.JsonPath.DISCARD)
        # Already being deleted, or still changing: see what it is doing, then ask again.
        delete.add_catch(
            wait_gone,
            errors=["OpsWorksCm.InvalidStateException"],
            result_path=sfn.JsonPath.DISCARD,
        )
        delete.add_catch(left, errors=["States.ALL"], result_path="$.cleanupError")
        delete.next(wait_gone)
        confirm = _describe(self, "ConfirmGone", drill, "$.deleting")
        confirm.add_catch(gone, errors=NOT_FOUND, result_path=sfn.JsonPath.DISCARD)
        confirm.add_catch(left, errors=["States.ALL"], result_path="$.cleanupError")
        wait_gone.next(confirm).next(_tick(self, "CountCleanupTime", "cleanup")).next(
            sfn.Choice(self, "Gone")
            .when(
                sfn.Condition.number_greater_than_equals_json_path(
                    "$.clocks.cleanup.elapsed", "$.cleanupSeconds"
                ),
                left,
            )
            .when(sfn.Condition.string_equals("$.deleting.status", "DELETING"), wait_gone)
            .otherwise(delete)
        )
        # Only a server that carries this execution's tag is deleted. Another of the name is
        # left alone; but when this drill created its server, one it cannot find as its own is
        # as urgent as one it could not delete.
        not_ours = sfn.Pass(
            self,
            "NotThisDrillsServer",
            parameters={
                "confirmed": False,
                "line.$": "States.Format('URGENT: the drill server {} does not carry this "
                "execution in its tag " + DRILL_EXECUTION + ", so it was not deleted. If it is "
                "the drill server: " + CLEANUP_TO_DO + "', $.drillServer, $.drillServer)",
            },
            result_path="$.cleanup",
        )
        cleanup = _owner_check(
            self,
            "Cleanup",
            ours=delete,
            not_ours=sfn.Choice(self, "DrillCreatedAServer")
            .when(sfn.Condition.is_present("$.created"), not_ours)
            .otherwise(gone),
            gone=gone,
            failed=left,
            error_path="$.cleanupError",
        )
        for result in results.values():
            result.next(cleanup)

        # ---- 4. record and alert ----------------------------------------------------------
        record = record_and_alert(self, topic=topic, history=history)
        gone.next(record)
        left.next(record)
        not_ours.next(record)

        # ---- the start --------------------------------------------------------------------
        begin = sfn.Pass(
            self,
            "StartClocks",
            parameters={clock: {"elapsed": 0} for clock in ("source", "server", "cleanup")},
            result_path="$.clocks",
        )
        idle = sfn.Condition.or_(
            *(sfn.Condition.string_equals("$.source.status", state) for state in IDLE)
        )
        begin.next(check_source).next(
            sfn.Choice(self, "SourceIdle")
            .when(idle, slots)
            .when(
                sfn.Condition.number_greater_than_equals_json_path(
                    "$.clocks.source.elapsed", "$.deadlineSeconds"
                ),
                results["SourceBusy"],
            )
            .otherwise(wait_source)
        )
        slots.next(needed).next(
            sfn.Choice(self, "SlotFree")
            .when(
                sfn.Condition.number_less_than_equals_json_path(
                    "$.slots.needed", "$.slots.maximum"
                ),
                sfn.Choice(self, "HasKeyPair")
                .when(sfn.Condition.is_present("$.create.KeyPair"), creates[1])
                .otherwise(creates[0]),
            )
            .otherwise(results["NoFreeSlot"])
        )

        self.state_machine, self.log_group = logged_state_machine(
            self,
            name="Drill",
            start=begin,
            timeout=timeout,
            log_retention=log_retention,
            log_level=log_level,
            comment="Restores an OpsWorks CM backup into a temporary server, measures, deletes it.",
        )

    def may_pass(self, roles: list[str]) -> None:
        """Let the drill hand these roles (the service role and the instance profile's role) to
        OpsWorks CM in CreateServer, and to no other service."""
        self.state_machine.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassDrillRoles",
                actions=["iam:PassRole"],
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": "opsworks-cm.amazonaws.com"}},
            )
        )
