"""What a run publishes as metrics (EMF on stdout), through the real handler: a dry run counts
nothing, since nothing it reports happened."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import Cloud, tag


def published(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF documents the handler wrote."""
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if '"_aws"' in line]


def fleet_with_old_backups(emulator: Emulator) -> None:
    # Retention 1 and an account one short of full: a run deletes one backup now, defers one.
    emulator.config.manual_backup_limit = 3
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **{"opsworks-cm-backup:retain": "1"})
    for days in (1, 2, 3):
        add_own_backup(emulator, "chef-prod", days)


def test_a_dry_run_publishes_no_metrics(
    emulator: Emulator, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_with_old_backups(emulator)
    capsys.readouterr()

    report = lambda_handler({"dryRun": True}, FakeLambdaContext())

    assert [d["backupId"] for r in report["results"] for d in r["deleted"]]  # it would delete
    assert published(capsys) == []


def test_a_real_run_publishes_what_it_did(
    emulator: Emulator, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet_with_old_backups(emulator)
    capsys.readouterr()

    lambda_handler({"servers": ["chef-prod"]}, FakeLambdaContext())

    [metrics] = published(capsys)
    assert metrics["BackupsStarted"] in (1.0, [1.0])
    assert metrics["BackupsDeleted"] in (1.0, [1.0])


def test_a_scheduled_run_publishes_each_servers_backup_age_and_the_late_ones(
    emulator: Emulator, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # chef-fresh has a day-old backup, chef-late a three-day-old one, chef-none none at all.
    for name in ("chef-fresh", "chef-late", "chef-none"):
        emulator.backend.add_server(name)
        tag(emulator, name)
    add_own_backup(emulator, "chef-fresh", 1)
    add_own_backup(emulator, "chef-late", 3)
    emulator.config.manual_backup_limit = 2  # full, nothing to lose: no backup starts
    capsys.readouterr()

    report = lambda_handler(
        {"source": "schedule", "scheduledTime": "2026-01-05T12:00:00Z"}, FakeLambdaContext()
    )

    documents = published(capsys)
    [run] = [d for d in documents if "BackupsStarted" in d]
    ages = {d["ServerName"]: d["BackupAgeHours"] for d in documents if "BackupAgeHours" in d}
    assert ages == {"chef-fresh": [24.0], "chef-late": [72.0]}
    age = next(d for d in documents if "BackupAgeHours" in d)
    [declared] = age["_aws"]["CloudWatchMetrics"]
    assert sorted(declared["Dimensions"][0]) == ["ServerName", "service"]
    # chef-late and chef-none are out of their RPO and nothing is making them a backup.
    late = [c["serverName"] for c in report["compliance"] if not c["compliant"]]
    assert sorted(late) == ["chef-late", "chef-none"]
    assert run["NonCompliantServers"] in (2.0, [2.0])


def test_a_manual_run_publishes_no_compliance_figures(
    emulator: Emulator, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # It judges only the servers it names, so it cannot count the account's late servers.
    fleet_with_old_backups(emulator)
    capsys.readouterr()

    lambda_handler({"servers": ["chef-prod"]}, FakeLambdaContext())

    [metrics] = published(capsys)
    assert "NonCompliantServers" not in metrics
    assert "BackupAgeHours" not in metrics


def test_alerts_the_central_topic_did_not_take_are_counted_and_the_stacks_topic_has_them(
    emulator: Emulator,
    cloud: Cloud,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a late server, the stack's topic with a subscriber, and a central topic that is not
    # there (the monitoring account's stack not deployed yet in this region)
    emulator.backend.add_server("chef-late")
    tag(emulator, "chef-late")
    add_own_backup(emulator, "chef-late", 3)
    emulator.config.manual_backup_limit = 1  # full: no backup starts, the server stays late
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="opsworks-cm-backup-alerts")["TopicArn"]
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn["Attributes"]["QueueArn"])
    monkeypatch.setenv("ALERT_TOPIC_ARN", topic)
    monkeypatch.setenv(
        "CENTRAL_ALERT_TOPIC_ARN",
        "arn:aws:sns:us-east-1:222222222222:opsworks-cm-backup-central-alerts",
    )
    get_settings.cache_clear()
    capsys.readouterr()

    lambda_handler(
        {"source": "schedule", "scheduledTime": "2026-01-05T12:00:00Z"}, FakeLambdaContext()
    )

    [run] = [d for d in published(capsys) if "BackupsStarted" in d]
    assert run["CentralAlertsFailed"] in (1.0, [1.0])
    [alert] = sqs.receive_message(QueueUrl=inbox, MaxNumberOfMessages=10)["Messages"]
    assert "chef-late" in json.loads(alert["Body"])["Message"]
