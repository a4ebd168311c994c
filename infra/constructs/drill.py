"""The restore drill state machine: restores one backup into a temporary server, measures how long
it takes to be HEALTHY, always deletes the server and confirms it is gone, records, alerts.

Every OpsWorks CM call is a Lambda task of the drill's own function (run/drill_tasks.py, through
the project's adapter): `status` (DescribeServers), `slots` (DescribeAccountAttributes),
`create` (CreateServer), `owner` (DescribeServers and ListTagsForResource), `delete`
(DeleteServer). The function answers, or ends in a named error the states below catch
(contract/task_errors.py): ServerNotFound, NameTaken, NoFreeSlot, ServerChanging.

Input (backup_orchestrator.domain.drill_servers.execution_input):
    {"runId", "startedAt", "sourceServer", "drillServer", "backupId", "backupAgeSeconds",
     "pollSeconds", "deadlineSeconds", "cleanupSeconds", "expiration",
     "create": {CreateServer's parameters}}

1. Wait, polling the source's status, until the source server is RUNNING, HEALTHY or UNHEALTHY (the
   run that started the drill has just started its backup): never a drill while it is being
   backed up or restored. Then the account's server slots: one must stay free for the operator.
   Either not so within the deadline: nothing is created, the result is SKIPPED.
2. CreateServer from the backup, then poll its status every pollSeconds to HEALTHY (OK, the
   time counted is the recovery time) or FAILED, or to the deadline (TIMED_OUT). Any error on the
   way (Catch States.ALL) is an ERROR, and goes on to the cleanup like every other result. When
   the name is taken, the server is followed only if its tag drill-execution names this very
   execution (a retried task after a lost answer; the function settles a lost answer of its own
   the same way); another server of the name is never touched.
3. Cleanup, always: only a server carrying this execution's tag is deleted (another of the name
   is left alone; but if this drill created a server and cannot find it as its own, that is
   URGENT). DeleteServer, then poll until the server does not exist, asking again
   while it is not DELETING (an InvalidState while it is still changing), at most
   cleanupSeconds; past that the cleanup failed.
4. Metrics (RestoreDrillsSucceeded and RestoreDrillSeconds, or RestoreDrillsFailed, each also per
   server; RestoreDrillCleanupFailures), the result as the item `drill#<server>` of the history
   table, and an alert for anything but a clean drill: a failed cleanup is URGENT (a server left
   running costs money). A drill that needs attention fails the execution.

Time is counted in polls (pollSeconds each), like the tracker: Step Functions' JSONPath has no
clock arithmetic. JSONPath only (moto's interpreter runs no JSONata).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from backup_orchestrator.contract.limits import (
    DRILL_EXECUTION,
    NameTaken,
    NoFreeSlot,
    ServerChanging,
)
from infra.constructs.drill_record import record_and_alert
from infra.constructs.drill_states import (
    CLEANUP_TO_DO,
    DRILL,
    IDLE,
    NOT_FOUND,
    SOURCE,
    count_poll,
    create_server,
    describe_server,
    owner_check,
    results,
)
from infra.constructs.log_groups import LogGroups
from infra.constructs.state_machines import logged_state_machine
from infra.constructs.task_function import TaskFunction

HANDLER = "backup_orchestrator.handlers.drill.lambda_handler"
# What the drill's function calls (run/drill_tasks.py).
DRILL_OPSWORKSCM_ACTIONS = [
    "opsworks-cm:CreateServer",
    "opsworks-cm:DeleteServer",
    "opsworks-cm:DescribeAccountAttributes",
    "opsworks-cm:DescribeServers",
    "opsworks-cm:ListTagsForResource",
]
# One call to the service, with the adapter's retries.
CALL_TIMEOUT_SECONDS = 120


def _deadline(clock: str) -> sfn.Condition:
    """The clock `$.clocks.<clock>` has reached the drill's deadline."""
    return sfn.Condition.number_greater_than_equals_json_path(
        f"$.clocks.{clock}.elapsed", "$.deadlineSeconds"
    )


class Drill(Construct):
    """The Standard state machine that runs one restore drill: the source's and the slots'
    checks, the restore, the cleanup, the record; each built by its own step."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        history: dynamodb.ITableV2,
        layer: lambda_.ILayerVersion,
        timeout: Duration,
        log_groups: LogGroups,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.calls = TaskFunction(
            self,
            "Calls",
            handler=HANDLER,
            description="Makes the OpsWorks CM calls of a restore drill",
            actions=DRILL_OPSWORKSCM_ACTIONS,
            layer=layer,
            timeout_seconds=CALL_TIMEOUT_SECONDS,
            log_groups=log_groups,
        )
        self._results = results(self)
        begin = self._build_source_check(restore=self._build_restore())
        cleanup, ends = self._build_cleanup()
        for result in self._results.values():
            result.next(cleanup)
        record = record_and_alert(self, topic=topic, history=history)
        for end in ends:
            end.next(record)
        self.state_machine, self.log_group = logged_state_machine(
            self,
            name="Drill",
            start=begin,
            timeout=timeout,
            log_groups=log_groups,
            log_level=log_level,
            comment="Restores an OpsWorks CM backup into a temporary server, measures, deletes it.",
        )
        self.calls.invoked_by(self.state_machine)

    def _build_source_check(self, *, restore: sfn.IChainable) -> sfn.IChainable:
        """Step 1: wait for the source to be idle, then for a slot (the drill's and one for the
        operator); `restore` when both hold."""
        errored = self._results["DrillError"]
        check_source = describe_server(self, self.calls, "CheckSource", SOURCE, "$.source")
        check_source.add_catch(self._results["SourceGone"], errors=NOT_FOUND, result_path="$.error")
        check_source.add_catch(errored, errors=["States.ALL"], result_path="$.error")
        wait_source = sfn.Wait(
            self, "WaitForSource", time=sfn.WaitTime.seconds_path("$.pollSeconds")
        )
        wait_source.next(count_poll(self, "CountSourceTime", "source")).next(check_source)

        slots = self.calls.task(
            self,
            "CheckSlots",
            {"action": "slots"},
            result_selector={"used.$": "$.Payload.used", "maximum.$": "$.Payload.maximum"},
            result_path="$.slots",
        )
        slots.add_catch(errored, errors=["States.ALL"], result_path="$.error")
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
        slots.next(needed).next(
            sfn.Choice(self, "SlotFree")
            .when(
                sfn.Condition.number_less_than_equals_json_path(
                    "$.slots.needed", "$.slots.maximum"
                ),
                restore,
            )
            .otherwise(self._results["NoFreeSlot"])
        )

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
            .when(_deadline("source"), self._results["SourceBusy"])
            .otherwise(wait_source)
        )
        return begin

    def _build_restore(self) -> sfn.IChainable:
        """Step 2: create from the backup (the function copies what a drill may), follow to
        HEALTHY, FAILED or the deadline. A taken name is followed only when the server there
        carries this execution's tag."""
        r = self._results
        errored, vanished = r["DrillError"], r["DrillServerVanished"]
        wait_server = sfn.Wait(
            self, "WaitForDrillServer", time=sfn.WaitTime.seconds_path("$.pollSeconds")
        )
        create = create_server(self, self.calls, "CreateDrillServer")
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
        taken = owner_check(
            self,
            self.calls,
            "Taken",
            ours=created,
            not_ours=r["NameTaken"],
            gone=vanished,
            failed=errored,
            error_path="$.error",
        )
        create.add_catch(taken, errors=[NameTaken.__name__], result_path=sfn.JsonPath.DISCARD)
        create.add_catch(r["SlotTaken"], errors=[NoFreeSlot.__name__], result_path="$.error")
        create.add_catch(errored, errors=["States.ALL"], result_path="$.error")
        create.next(created)
        check_server = describe_server(self, self.calls, "CheckDrillServer", DRILL, "$.server")
        check_server.add_catch(vanished, errors=NOT_FOUND, result_path="$.error")
        check_server.add_catch(errored, errors=["States.ALL"], result_path="$.error")
        status = "$.server.status"
        wait_server.next(check_server).next(count_poll(self, "CountRestoreTime", "server")).next(
            sfn.Choice(self, "RestoreDone")
            .when(sfn.Condition.string_equals(status, "HEALTHY"), r["Restored"])
            .when(sfn.Condition.string_equals(status, "FAILED"), r["RestoreFailed"])
            .when(_deadline("server"), r["RestoreTimedOut"])
            .otherwise(wait_server)
        )
        return create

    def _build_cleanup(self) -> tuple[sfn.IChainable, list[sfn.INextable]]:
        """Step 3, always: only a server carrying this execution's tag is deleted, then followed
        until DescribeServers says it does not exist, at most cleanupSeconds. Returns the first
        state and the ends (gone, left running, refused, not ours) the record follows."""
        delete = self.calls.task(
            self,
            "DeleteDrillServer",
            {"action": "delete", "serverName": sfn.JsonPath.string_at(DRILL)},
            result_path=sfn.JsonPath.DISCARD,
        )
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
        # Refused (access, a lost answer, the service's fault): the same, with the reason.
        refused = sfn.Pass(
            self,
            "CleanupRefused",
            parameters={
                "confirmed": False,
                "line.$": "States.Format('URGENT: the drill server {} could not be deleted, or "
                "its deletion confirmed: {} ({}). " + CLEANUP_TO_DO + "', $.drillServer, "
                "$.cleanupError.Error, $.cleanupError.Cause, $.drillServer)",
            },
            result_path="$.cleanup",
        )
        wait_gone = sfn.Wait(
            self, "WaitForDeletion", time=sfn.WaitTime.seconds_path("$.pollSeconds")
        )
        delete.add_catch(gone, errors=NOT_FOUND, result_path=sfn.JsonPath.DISCARD)
        # Already being deleted, or still changing: see what it is doing, then ask again.
        delete.add_catch(
            wait_gone, errors=[ServerChanging.__name__], result_path=sfn.JsonPath.DISCARD
        )
        delete.add_catch(refused, errors=["States.ALL"], result_path="$.cleanupError")
        delete.next(wait_gone)
        confirm = describe_server(self, self.calls, "ConfirmGone", DRILL, "$.deleting")
        confirm.add_catch(gone, errors=NOT_FOUND, result_path=sfn.JsonPath.DISCARD)
        confirm.add_catch(refused, errors=["States.ALL"], result_path="$.cleanupError")
        wait_gone.next(confirm).next(count_poll(self, "CountCleanupTime", "cleanup")).next(
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
        # Another server of the name is left alone; but when this drill created its server, one
        # it cannot find as its own is as urgent as one it could not delete.
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
        cleanup = owner_check(
            self,
            self.calls,
            "Cleanup",
            ours=delete,
            not_ours=sfn.Choice(self, "DrillCreatedAServer")
            .when(sfn.Condition.is_present("$.created"), not_ours)
            .otherwise(gone),
            gone=gone,
            failed=refused,
            error_path="$.cleanupError",
        )
        return cleanup, [gone, left, refused, not_ours]

    def may_pass(self, roles: list[str]) -> None:
        """Let the drill's function hand these roles (the service role and the instance
        profile's role) to OpsWorks CM in CreateServer, and to no other service."""
        self.calls.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PassDrillRoles",
                actions=["iam:PassRole"],
                resources=roles,
                conditions={"StringEquals": {"iam:PassedToService": "opsworks-cm.amazonaws.com"}},
            )
        )
