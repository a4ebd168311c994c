"""After a run's own work (follow_up.py): the busy servers' next try, compliance, one log line per
server, the history and the compliance alert, in that order (the scheduler, DynamoDB and SNS in
moto). Each is best effort, never silent: what cannot be written is an error in the log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from backup_orchestrator.aws.alerts import Alerts
from backup_orchestrator.aws.history import History
from backup_orchestrator.contract.events import RunRequest
from backup_orchestrator.contract.report import RunReport
from backup_orchestrator.domain.compliance import RunEntry
from backup_orchestrator.domain.records import Backup, Outcome, Server
from backup_orchestrator.run.follow_up import follow_up, remember
from backup_orchestrator.run.services import Followers
from tests.support.planning import NOW, backup, server
from tests.support.running import RUN, TARGET, manual, outcome, run_report, scheduled, settings

EARLIER = RunEntry("scheduled-20260104T120000Z", NOW - timedelta(days=1), "FAILED", "full")
LATE = "not backed up: the server is UNDER_MAINTENANCE at every try of the slot's retry window"


@dataclass
class Account:
    followers: Followers
    sqs: Any
    queue_url: str

    def alerted(self) -> list[str]:
        """The servers each alert the topic's subscriber got names, alert by alert."""
        got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
        bodies = [json.loads(m["Body"])["Message"] for m in got.get("Messages", [])]
        return [
            ",".join(line[2:].split(":")[0] for line in b.splitlines() if line.startswith("- "))
            for b in bodies
        ]

    def remembered(self) -> dict[str, list[RunEntry]]:
        assert self.followers.history is not None
        return self.followers.history.load()


@pytest.fixture
def account() -> Iterator[Account]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName="history",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        sns: Any = boto3.client("sns", region_name="us-east-1")
        sqs: Any = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="subscriber")["QueueUrl"]
        queue = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue["Attributes"]["QueueArn"])
        followers = Followers(
            scheduler=boto3.client("scheduler", region_name="us-east-1"),
            retry_target=TARGET,
            alerts=Alerts(sns, topic),
            history=History(dynamodb, "history"),
        )
        yield Account(followers, sqs, queue_url)


def follow(
    account: Account,
    report: RunReport,
    request: RunRequest,
    servers: Sequence[Server],
    backups: Sequence[Backup] = (),
    remembered: dict[str, list[RunEntry]] | None = None,
    *,
    retry_busy: bool = False,
) -> None:
    follow_up(
        report,
        request,
        settings(),
        account.followers,
        servers,
        backups,
        remembered or {},
        now=NOW + timedelta(minutes=3),
        retry_busy=retry_busy,
    )


def test_the_runs_outcomes_go_in_front_of_each_servers_history_and_the_late_are_alerted(
    account: Account,
) -> None:
    fresh = backup("chef-a", 1)
    report = run_report(
        outcome("chef-a", Outcome.STARTED, "backup started", "chef-a-new"),
        outcome("chef-b", Outcome.FAILED, "not backed up: the limit was full"),
    )

    servers = [server("chef-a"), server("chef-b")]
    follow(account, report, scheduled(), servers, [fresh], {"chef-b": [EARLIER]})

    at = NOW + timedelta(minutes=3)
    assert account.remembered() == {
        "chef-a": [RunEntry(RUN, at, "STARTED", "backup started", "chef-a-new")],
        "chef-b": [RunEntry(RUN, at, "FAILED", "not backed up: the limit was full"), EARLIER],
    }
    assert [(c.server_name, c.compliant) for c in report.compliance] == [
        ("chef-a", True),
        ("chef-b", False),
    ]
    assert account.alerted() == ["chef-b"]


def test_a_dry_run_is_judged_and_logged_but_remembered_by_nobody_and_alerts_nobody(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    report = run_report(outcome("chef-b", Outcome.PLANNED, "would start a backup"), dry_run=True)

    with caplog.at_level(logging.INFO):
        follow(account, report, scheduled(dry_run=True), [server("chef-b")])
        remember(report, account.followers, {}, NOW)  # not even when asked

    assert [(c.server_name, c.compliant) for c in report.compliance] == [("chef-b", False)]
    [line] = [r.__dict__ for r in caplog.records if r.msg == "server outcome"]
    assert (line["server"], line["outcome"], line["dry_run"]) == ("chef-b", "PLANNED", True)
    assert (account.remembered(), account.alerted()) == ({}, [])


@pytest.mark.parametrize(
    ("request_", "retry_busy", "alerted"),
    [
        # The slot's own run alerts on every late server, whether or not it tries some again.
        (scheduled(), False, ["chef-late,chef-retried"]),
        (scheduled(), True, ["chef-late,chef-retried"]),
        # The tries between say nothing; the last one alerts on the servers it retried.
        (scheduled(2, retrying=("chef-retried",)), True, []),
        (scheduled(8, retrying=("chef-retried",)), False, ["chef-retried"]),
        # A manual run judges only the servers it names: it cannot say who else is late.
        (manual("chef-retried"), False, []),
    ],
    ids=["the slot's run", "the slot's run, retrying", "a try between", "the last try", "manual"],
)
def test_a_late_server_is_alerted_once_by_the_slots_run_and_once_more_by_its_last_try(
    account: Account, request_: RunRequest, retry_busy: bool, alerted: list[str]
) -> None:
    report = run_report(outcome("chef-retried", Outcome.FAILED, LATE))

    follow(
        account,
        report,
        request_,
        [server("chef-late"), server("chef-retried")],
        retry_busy=retry_busy,
    )

    assert account.alerted() == alerted


@pytest.mark.parametrize(
    ("retry_busy", "refused", "remembered", "scheduled_try"),
    [
        (True, False, "RETRYING", True),
        (True, True, "FAILED", False),
        (False, False, "RETRYING", False),
    ],
    ids=["scheduled", "refused", "not asked"],
)
def test_the_next_try_comes_first_so_the_history_says_whether_it_was_scheduled(
    account: Account, retry_busy: bool, refused: bool, remembered: str, scheduled_try: bool
) -> None:
    busy = "the server is UNDER_MAINTENANCE, so it is tried again later in the slot"
    report = run_report(outcome("chef-a", Outcome.RETRYING, busy))
    assert account.followers.scheduler is not None
    service = Stubber(account.followers.scheduler)
    if refused:
        service.add_client_error("create_schedule", "AccessDeniedException", "not allowed")
        service.activate()

    follow(account, report, scheduled(), [server("chef-a")], retry_busy=retry_busy)

    [entry] = account.remembered()["chef-a"]
    assert (entry.outcome, entry.reason) == (remembered, report.results[0].reason)
    assert (report.next_try is not None) is scheduled_try
    assert ("could not be scheduled" in entry.reason) is refused


def test_a_history_or_alert_that_cannot_be_written_is_an_error_in_the_log_and_nothing_more(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    history, alerts = account.followers.history, account.followers.alerts
    assert history is not None and alerts is not None
    history.table = "no-such-table"
    alerts.topic_arn = alerts.topic_arn.replace(":alerts", ":no-such-topic")
    report = run_report(outcome("chef-b", Outcome.FAILED, "not backed up: the limit was full"))

    with caplog.at_level(logging.ERROR):
        follow(account, report, scheduled(), [server("chef-b")])

    errors = {r.getMessage(): r.__dict__["error"] for r in caplog.records}
    assert errors.keys() == {"history not written", "compliance alert not published"}
    assert "ResourceNotFoundException" in errors["history not written"]
    assert "NotFound" in errors["compliance alert not published"]


def test_each_server_has_one_log_line_with_its_outcome_and_its_compliance(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    report = run_report(
        outcome("chef-a", Outcome.STARTED, "backup started", "chef-a-new"),
        outcome("chef-gone", Outcome.SKIPPED, "the server no longer exists"),
    )
    report.results[0].retain.asked, report.results[0].retain.granted = 7, 5

    with caplog.at_level(logging.INFO):
        follow(account, report, scheduled(), [server("chef-a")], [backup("chef-a", 1.5)])

    lines = {r.__dict__["server"]: r.__dict__ for r in caplog.records if r.msg == "server outcome"}
    a, gone = lines["chef-a"], lines["chef-gone"]
    assert (a["outcome"], a["reason"], a["backup_id"]) == (
        "STARTED",
        "backup started",
        "chef-a-new",
    )
    assert (a["deleted"], a["deferred_deletes"], a["warnings"]) == ([], [], [])
    assert (a["retain_asked"], a["retain_granted"], a["dry_run"]) == (7, 5, False)
    assert (a["compliant"], a["backup_age_hours"], a["rpo_hours"]) == (False, 36.05, 29)
    # Not judged (it is gone): the line says so rather than guess.
    assert (gone["compliant"], gone["backup_age_hours"], gone["rpo_hours"]) == (None, None, None)
