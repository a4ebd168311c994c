"""The tracker state machine: follows each new backup to OK or FAILED and alerts on trouble.

Input (from the orchestrator):
    {"runId", "pollSeconds", "deadlineSeconds",
     "backups": [{"serverName", "backupId", "deferredDeletes": [backupId, ...]}]}

For every backup (a Map with bounded concurrency): Wait pollSeconds -> DescribeBackups -> count
the time -> Choice. OK applies that backup's deferred deletions, each on its own and best effort
(a backup already gone is fine; one the service refuses is a retention problem, counted in
RetentionDeleteFailures, and the others still go), and records success; FAILED, DELETING or a
vanished backup is a failure; IN_PROGRESS past the deadline is a time-out. Each item ends with a
one-line summary for a person: what happened, the service's reason, what to do. After the Map, a
failure or a retention problem publishes one alert to the topic, one line per backup; a failure
also fails the execution.

JSONPath only (moto's interpreter runs no JSONata), and `States.ArrayGetItem(...[*]...)` rather
than an index path, which moto's interpreter returns as a list.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from backup_orchestrator.contract.limits import BATCH
from infra.constructs.state_machines import logged_state_machine, metric, retry

# The most an inline Map runs in parallel; the orchestrator starts one execution per this many
# backups (domain/history_budget.py BATCH), so every backup is polled from the start.
MAP_CONCURRENCY = BATCH
GONE_OR_GOING = ["OpsWorksCm.ResourceNotFoundException", "OpsWorksCm.InvalidStateException"]
# Inside a States.Format template: no single quotes and no braces but the placeholders.
CLOSING = (
    "Each backup that needs attention says what to do. One that did not end OK kept the old "
    "backups it would have replaced. Tracker execution: {}"
)
# The service's words for a backup, with these when it gives none (StatusDescription is optional).
NO_REASON = "no reason given"


def padded(path: str, count: int) -> str:
    """An intrinsic: [the strings at `path`, `count` blanks]. Flattened (`[*][*]`, which only a
    path outside an intrinsic can do) it is what `joined` takes apart."""
    blanks = ",".join([" "] * count)
    return f"States.Array({path}, States.StringSplit('{blanks}', ','))"


def joined(count: int) -> str:
    """An intrinsic: the first `count` strings of the state's input (a flattened `padded`),
    joined. The language has no join, so `count` placeholders take the strings and the blanks
    after them; each string brings its own line break."""
    items = ", ".join(f"States.ArrayGetItem($, {i})" for i in range(count))
    return f"States.Format('{'{}' * count}', {items})"


REFUSALS = "$.retention.each[*].refused"
SERVER, BACKUP = "$.backup.serverName", "$.backup.backupId"
# Every way one backup's following can end, by state name: its outcome, its line for a person (a
# States.Format template and its arguments), and whether a retention deletion was refused.
OUTCOMES: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "BackupOk": ("OK", "{}: backup {} is OK.", (SERVER, BACKUP), False),
    "BackupOkRetentionProblem": (
        "OK",
        "{}: backup {} is OK, but {} of the old backups it replaces could not be deleted, "
        "first {}. They stay and count toward the manual-backup limit of the account. To do: "
        "nothing, the next run tries again; or delete them by hand (aws opsworkscm "
        "delete-backup --backup-id ID).",
        (SERVER, BACKUP, f"States.ArrayLength({REFUSALS})", f"States.ArrayGetItem({REFUSALS}, 0)"),
        True,
    ),
    "BackupFailed": (
        "FAILED",
        '{}: backup {} ended {} (OpsWorks CM: "{}"). Its old backups were kept. To do: read '
        "the server events (aws opsworkscm describe-events --server-name {}), fix the cause, "
        "then back it up again (owcm-backup run --servers {}, or invoke the function with "
        "the server named in servers).",
        (
            SERVER,
            BACKUP,
            "$.describe.status",
            "States.ArrayGetItem($.clock.said, 0)",
            SERVER,
            SERVER,
        ),
        False,
    ),
    "BackupTimedOut": (
        "TIMED_OUT",
        "{}: backup {} was still IN_PROGRESS after {} seconds, its deadline. Its old backups "
        "were kept. To do: check it (aws opsworkscm describe-backups --backup-id {}); if it "
        "ends OK the next run applies retention, if not back the server up again.",
        (SERVER, BACKUP, "$.clock.elapsed", BACKUP),
        False,
    ),
    "BackupVanished": (
        "VANISHED",
        "{}: backup {} no longer exists (it, or its server, was deleted). Its old backups "
        "were kept. To do: check the server (aws opsworkscm describe-servers --server-name "
        "{}) and back it up again if it is still there.",
        (SERVER, BACKUP, SERVER),
        False,
    ),
    "TrackingFailed": (
        "ERROR",
        "{}: backup {} could not be followed ({}: {}). Its old backups were kept. To do: "
        "check it (aws opsworkscm describe-backups --backup-id {}); if it is OK the next run "
        "applies retention.",
        (SERVER, BACKUP, "$.error.Error", "$.error.Cause", BACKUP),
        False,
    ),
}


def _outcome(
    scope: Construct,
    name: str,
    outcome: str,
    line: str,
    *args: str,
    retention_problem: bool = False,
) -> sfn.Pass:
    """A Pass state that sets this backup's result: outcome, ok flag, whether a retention
    deletion was refused, and a readable line."""
    return sfn.Pass(
        scope,
        name,
        parameters={
            "serverName.$": "$.backup.serverName",
            "backupId.$": "$.backup.backupId",
            "outcome": outcome,
            "ok": outcome == "OK",
            "retentionProblem": retention_problem,
            "elapsedSeconds.$": "$.clock.elapsed",
            # Each line brings its own break: the alert joins them as they are.
            "line.$": f"States.Format('\n{line}', {', '.join(args)})",
        },
    )


class Tracker(Construct):
    """The Standard state machine that follows one run's backups: a Map over them, then one
    alert for the run; each built by its own step."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        timeout: Duration,
        log_retention: logs.RetentionDays,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self._outcomes = {
            name: _outcome(self, name, outcome, line, *args, retention_problem=problem)
            for name, (outcome, line, args, problem) in OUTCOMES.items()
        }
        definition = self._build_follow().next(self._build_summary(topic))
        self.state_machine, self.log_group = logged_state_machine(
            self,
            name="Tracker",
            start=definition,
            timeout=timeout,
            log_retention=log_retention,
            log_level=log_level,
            comment="Follows OpsWorks CM backups to OK or FAILED, applies retention, alerts.",
        )

    def _build_follow(self) -> sfn.Map:
        """Every backup (a Map with bounded concurrency): wait, DescribeBackups, count the time,
        then the choice of what its status means."""
        wait = sfn.Wait(self, "WaitForBackup", time=sfn.WaitTime.seconds_path("$.pollSeconds"))
        describe = tasks.CallAwsService(
            self,
            "DescribeBackup",
            service="opsworkscm",
            action="describeBackups",
            iam_action="opsworks-cm:DescribeBackups",
            iam_resources=["*"],
            parameters={"BackupId.$": "$.backup.backupId"},
            result_selector={
                "status.$": "States.ArrayGetItem($.Backups[*].Status, 0)",
                # [[StatusDescription], [NO_REASON]]: the first of it flattened is the service's
                # words when it gave any (an absent field yields no item, not an error).
                "said.$": "States.Array($.Backups[*].StatusDescription, "
                f"States.Array('{NO_REASON}'))",
            },
            result_path="$.describe",
        )
        retry(describe)
        count = sfn.Pass(
            self,
            "CountTime",
            parameters={
                "elapsed.$": "States.MathAdd($.clock.elapsed, $.pollSeconds)",
                # The service's words at this poll, flat: [StatusDescription..., NO_REASON].
                # Flattening takes a path outside an intrinsic, which the line's cannot be.
                "said.$": "$.describe.said[*][*]",
            },
            result_path="$.clock",
        )

        describe.add_catch(
            self._outcomes["BackupVanished"],
            errors=["OpsWorksCm.ResourceNotFoundException"],
            result_path="$.error",
        )
        describe.add_catch(
            self._outcomes["TrackingFailed"], errors=["States.ALL"], result_path="$.error"
        )
        failed, timed_out = self._outcomes["BackupFailed"], self._outcomes["BackupTimedOut"]
        status = "$.describe.status"
        check = (
            sfn.Choice(self, "CheckStatus")
            .when(sfn.Condition.string_equals(status, "OK"), self._build_deletions())
            .when(
                sfn.Condition.or_(
                    sfn.Condition.string_equals(status, "FAILED"),
                    sfn.Condition.string_equals(status, "DELETING"),
                ),
                failed,
            )
            .when(
                sfn.Condition.and_(
                    sfn.Condition.string_equals(status, "IN_PROGRESS"),
                    sfn.Condition.number_greater_than_equals_json_path(
                        "$.clock.elapsed", "$.deadlineSeconds"
                    ),
                ),
                timed_out,
            )
            .when(sfn.Condition.string_equals(status, "IN_PROGRESS"), wait)
            .otherwise(failed)
        )
        follow = sfn.Map(
            self,
            "FollowBackups",
            items_path="$.backups",
            item_selector={
                "backup.$": "$$.Map.Item.Value",
                "pollSeconds.$": "$.pollSeconds",
                "deadlineSeconds.$": "$.deadlineSeconds",
                "clock": {"elapsed": 0},
            },
            max_concurrency=MAP_CONCURRENCY,
            result_path="$.results",
        )
        follow.item_processor(wait.next(describe).next(count).next(check))
        return follow

    def _build_deletions(self) -> sfn.IChainable:
        """After OK: the deferred deletions, each on its own and best effort, then the metrics of
        every outcome."""
        delete = tasks.CallAwsService(
            self,
            "DeleteBackup",
            service="opsworkscm",
            action="deleteBackup",
            iam_action="opsworks-cm:DeleteBackup",
            iam_resources=["*"],
            parameters={"BackupId.$": "$.backupId"},
            result_path=sfn.JsonPath.DISCARD,
        )
        retry(delete)
        delete.add_catch(
            sfn.Pass(self, "AlreadyGone"), errors=GONE_OR_GOING, result_path=sfn.JsonPath.DISCARD
        )
        # Any other refusal is this deletion's problem alone: note it, count it, go on.
        refused = sfn.Pass(
            self,
            "DeleteRefused",
            parameters={
                "backupId.$": "$.backupId",
                "refused.$": "States.Format('{} ({}: {})', $.backupId, $.error.Error, "
                "$.error.Cause)",
            },
        )
        delete.add_catch(refused, errors=["States.ALL"], result_path="$.error")
        refused.next(metric(self, "RecordRetentionFailure", "RetentionDeleteFailures", 1))
        # The deletions as one text, [{"backupId": ...}, {"backupId": ..., "refused": ...}],
        # never empty: a JSONPath filter picking the refused ones fails in moto's interpreter
        # when none matches, the usual case.
        apply_deletes = sfn.Map(
            self,
            "ApplyDeferredDeletes",
            items_path="$.backup.deferredDeletes",
            item_selector={"backupId.$": "$$.Map.Item.Value"},
            max_concurrency=1,
            # The deletions as a text for the choice below, and as they are for the alert.
            result_selector={"deletions.$": "States.JsonToString($)", "each.$": "$"},
            result_path="$.retention",
        )
        apply_deletes.item_processor(delete)

        succeeded_metric = metric(self, "RecordSuccess", "BackupsSucceeded", 1)
        duration_metric = metric(self, "RecordDuration", "BackupDuration", "$.elapsedSeconds")
        failed_metric = metric(self, "RecordFailure", "BackupsFailed", 1)
        ok, ok_but_retention = (self._outcomes[n] for n in ("BackupOk", "BackupOkRetentionProblem"))
        ok.next(succeeded_metric)
        ok_but_retention.next(succeeded_metric)
        succeeded_metric.next(duration_metric)
        for bad in ("BackupFailed", "BackupTimedOut", "BackupVanished", "TrackingFailed"):
            self._outcomes[bad].next(failed_metric)
        return apply_deletes.next(
            sfn.Choice(self, "AnyDeleteRefused")
            .when(
                sfn.Condition.string_matches("$.retention.deletions", '*"refused":*'),
                ok_but_retention,
            )
            .otherwise(ok)
        )

    def _build_summary(self, topic: sns.ITopic) -> sfn.IChainable:
        """After the Map: one alert for the run when anything needs attention (a failure also
        fails the execution)."""
        summarize = sfn.Pass(
            self,
            "Summarize",
            parameters={
                "anyFailed.$": "States.ArrayContains($.results[*].ok, false)",
                "anyRetentionProblem.$": "States.ArrayContains($.results[*].retentionProblem, "
                "true)",
                "lines.$": padded("$.results[*].line", MAP_CONCURRENCY),
            },
            result_path="$.summary",
        )
        alert = tasks.SnsPublish(
            self,
            "Alert",
            topic=topic,
            subject="OpsWorks CM backup needs attention",
            # The lines, flat: one execution follows at most MAP_CONCURRENCY backups (the
            # orchestrator's batch). The state's own output stays its input (the result is
            # discarded), so the run's id comes from the execution's input.
            input_path="$.summary.lines[*][*]",
            message=sfn.TaskInput.from_json_path_at(
                "States.Format('OpsWorks CM backup run {} needs attention.\n{}\n\n"
                + CLOSING
                + f"', $$.Execution.Input.runId, {joined(MAP_CONCURRENCY)}, $$.Execution.Id)"
            ),
            result_path=sfn.JsonPath.DISCARD,
        )
        retry(alert, ["States.TaskFailed"])
        failure = sfn.Fail(
            self,
            "BackupsNeedAttention",
            error="BackupsNeedAttention",
            cause="A backup ended FAILED, vanished, could not be followed, or missed its deadline.",
        )
        done = sfn.Succeed(self, "AllBackupsOk")
        any_failed = sfn.Condition.boolean_equals("$.summary.anyFailed", True)
        alerted = alert.next(
            sfn.Choice(self, "AnyFailed").when(any_failed, failure).otherwise(done)
        )
        return summarize.next(
            sfn.Choice(self, "NeedsAttention")
            .when(
                sfn.Condition.or_(
                    any_failed,
                    sfn.Condition.boolean_equals("$.summary.anyRetentionProblem", True),
                ),
                alerted,
            )
            .otherwise(done)
        )
