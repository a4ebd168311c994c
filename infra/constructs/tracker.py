"""The tracker state machine: follows a run's new backups to OK or FAILED and alerts on trouble.

Step Functions keeps the loop: wait (the first wait spread per execution, so runs that overlap
do not poll together), ask the tracker's function to poll, and either wait again or end. The
function (handlers/tracker.py, run/follow.py) reads the account once per poll, whatever the
number of backups, applies the deferred deletions of the backups now OK, and answers the next
state; at the end it composes the one alert of the run. The state machine publishes it and
fails the execution when a backup did not end OK.

A poll that still fails after its retries ends the execution with an alert written here (two
intrinsic functions): which backups were followed to the end so far, which were not, and that
their old backups were kept.

Input (from the orchestrator, domain/tracking.py execution_input; run/follow.py describes the
state): {"runId", "pollSeconds", "deadlineSeconds", "firstWaitSeconds", "maxPolls", "polls",
"backups": [{"serverName", "backupId", "deferredDeletes": [backupId, ...]}], "results": [],
"report": ""}
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra.constructs.log_groups import LogGroups
from infra.constructs.state_machines import logged_state_machine, retry
from infra.constructs.task_function import TaskFunction

HANDLER = "backup_orchestrator.handlers.tracker.lambda_handler"
# What the tracker's function calls: the account's backups (one read a poll, and the reads that
# confirm a deletion whose answer was lost) and the deferred deletions.
TRACKER_OPSWORKSCM_ACTIONS = ["opsworks-cm:DeleteBackup", "opsworks-cm:DescribeBackups"]
# A poll reads the account once and applies at most 100 deletions at 5 a second.
POLL_TIMEOUT_SECONDS = 180
SUBJECT = "OpsWorks CM backup needs attention"
# Inside a States.Format template: no single quotes and no braces but the placeholders.
NOT_FOLLOWED = (
    "OpsWorks CM backup run {} could not be followed to the end: the tracker could not read the "
    "account ({}: {}).\nFollowed to the end:{}\n\nNot followed to the end, so their old backups "
    "were kept: {}. To do: check them (aws opsworkscm describe-backups --backup-id ID); the "
    "next run applies retention to those that are OK. Tracker execution: {}"
)


class Tracker(Construct):
    """The Standard state machine that follows one run's backups, and its function."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        layer: lambda_.ILayerVersion,
        timeout: Duration,
        log_groups: LogGroups,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.poller = TaskFunction(
            self,
            "Poller",
            handler=HANDLER,
            description="Polls an OpsWorks CM backup run's backups for the tracker",
            actions=TRACKER_OPSWORKSCM_ACTIONS,
            layer=layer,
            timeout_seconds=POLL_TIMEOUT_SECONDS,
            log_groups=log_groups,
        )
        self.state_machine, self.log_group = logged_state_machine(
            self,
            name="Tracker",
            start=self._build_loop(topic),
            timeout=timeout,
            log_groups=log_groups,
            log_level=log_level,
            comment="Follows OpsWorks CM backups to OK or FAILED, applies retention, alerts.",
        )
        self.poller.invoked_by(self.state_machine)

    def _build_loop(self, topic: sns.ITopic) -> sfn.IChainable:
        """First wait, poll, then wait again until the function says the run is finished."""
        first = sfn.Wait(self, "FirstWait", time=sfn.WaitTime.seconds_path("$.firstWaitSeconds"))
        wait = sfn.Wait(self, "WaitForBackups", time=sfn.WaitTime.seconds_path("$.pollSeconds"))
        poll = self.poller.task(
            self,
            "Poll",
            {"state": sfn.JsonPath.entire_payload, "execution": sfn.JsonPath.execution_id},
            output_path="$.Payload",
        )
        alerted, gave_up = self._build_ends(topic)
        poll.add_catch(gave_up, errors=["States.ALL"], result_path="$.error")
        wait.next(poll)
        first.next(poll).next(
            sfn.Choice(self, "Finished")
            .when(sfn.Condition.boolean_equals("$.finished", False), wait)
            .when(sfn.Condition.is_present("$.alert"), alerted)
            .otherwise(sfn.Succeed(self, "AllBackupsOk"))
        )
        return first

    def _build_ends(self, topic: sns.ITopic) -> tuple[sfn.IChainable, sfn.IChainable]:
        """The alert the function composed (then fail when a backup did not end OK), and the
        one written here when the polls could not go on."""
        alert = tasks.SnsPublish(
            self,
            "Alert",
            topic=topic,
            subject=sfn.JsonPath.string_at("$.alert.subject"),
            message=sfn.TaskInput.from_json_path_at("$.alert.message"),
            result_path=sfn.JsonPath.DISCARD,
        )
        retry(alert, ["States.TaskFailed"])
        failure = sfn.Fail(
            self,
            "BackupsNeedAttention",
            error="BackupsNeedAttention",
            cause="A backup ended FAILED, vanished, could not be followed, or missed its deadline.",
        )
        alert.next(
            sfn.Choice(self, "AnyFailed")
            .when(sfn.Condition.boolean_equals("$.failed", True), failure)
            .otherwise(sfn.Succeed(self, "RetentionProblemReported"))
        )
        gave_up = sfn.Pass(
            self,
            "NotFollowed",
            parameters={
                "subject": SUBJECT,
                "message.$": f"States.Format('{NOT_FOLLOWED}', $.runId, $.error.Error, "
                "$.error.Cause, $.report, States.JsonToString($.backups[*].backupId), "
                "$$.Execution.Id)",
            },
            result_path="$.alert",
        )
        gave_up.next(
            sfn.Pass(
                self, "NotAllFollowed", result=sfn.Result.from_boolean(True), result_path="$.failed"
            )
        ).next(alert)
        return alert, gave_up
