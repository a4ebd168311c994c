"""Which runs start restore drills, and with what, through the real handler: the emulator, moto,
and a drill state machine that only records its executions (what it does is
tests/infra/test_drill_e2e.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import boto3
import pytest

from backup_orchestrator.aws.alerts import Alerts
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.contract.report import DrillReport
from backup_orchestrator.contract.settings import get_settings
from backup_orchestrator.domain.drill_servers import DRILL_EXECUTION
from backup_orchestrator.domain.history_budget import drill_poll_seconds
from backup_orchestrator.domain.messages import ALERT_BYTES, REASON_BYTES
from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run import drills as drill_runs
from backup_orchestrator.run.services import Followers, Services
from local.emulator import Emulator
from local.emulator.errors import ServiceError, ValidationException
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.integration.run.test_metrics import published
from tests.support.fleet import PASS_MACHINE, Cloud, tag
from tests.support.sizes import SERVICE_WORDS, largest_fleet, long_name

SLOT = "2026-01-05T12:00:00Z"
SCHEDULED = {"source": "schedule", "scheduledTime": SLOT}
WEEKLY = {"opsworks-cm-backup:restore-drill": "weekly"}
HISTORY = "opsworks-cm-backup-history"


@pytest.fixture
def drills(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The drill state machine's ARN, set for the function as the stack sets it, with the
    history table (where the last drills are: none yet)."""
    arn = cloud.sfn.create_state_machine(
        name="opsworks-cm-backup-drill",
        definition=json.dumps(PASS_MACHINE),
        roleArn="arn:aws:iam::123456789012:role/drill",
    )["stateMachineArn"]
    cloud.dynamodb.create_table(
        TableName=HISTORY,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("DRILL_STATE_MACHINE_ARN", arn)
    monkeypatch.setenv("HISTORY_TABLE", HISTORY)
    get_settings.cache_clear()
    yield arn
    get_settings.cache_clear()


def started(arn: str) -> list[dict[str, Any]]:
    sfn: Any = boto3.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def test_the_slots_run_starts_each_due_drill_with_what_it_restores(
    emulator: Emulator, cloud: Cloud, drills: str
) -> None:
    emulator.backend.add_server("chef-prod", KeyPair="ops")
    tag(emulator, "chef-prod", **WEEKLY)
    newest = add_own_backup(emulator, "chef-prod", 1)
    add_own_backup(emulator, "chef-prod", 2)

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    [drill] = report["drills"]
    [execution] = started(drills)
    assert (drill["outcome"], drill["backupId"]) == ("STARTED", newest)
    assert drill["executionArn"] == execution["executionArn"]
    assert execution["name"] == "scheduled-20260105T120000Z-chef-prod"
    given = json.loads(execution["input"])
    assert (given["sourceServer"], given["backupId"]) == ("chef-prod", newest)
    assert (given["drillServer"], given["runId"]) == (drill["drillServer"], report["runId"])
    # The stack's default deadline; the function's 5-second poll would write more history than
    # a two-hour drill may, so the drill polls as often as fits.
    assert (given["pollSeconds"], given["deadlineSeconds"]) == (40, 7200)
    assert drill_poll_seconds(7200, 5) == 40
    assert given["create"]["KeyPair"] == "ops"
    tags = {t["Key"]: t["Value"] for t in given["create"]["Tags"]}
    assert tags[DRILL_EXECUTION] == execution["executionArn"]


def test_no_free_server_slot_skips_the_drill_with_the_reason_and_creates_nothing(
    emulator: Emulator, cloud: Cloud, drills: str
) -> None:
    emulator.config.server_limit = 3
    emulator.backend.add_server("chef-prod")
    emulator.backend.add_server("chef-other")
    tag(emulator, "chef-prod", **WEEKLY)
    add_own_backup(emulator, "chef-prod", 1)

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert report["drills"] == [
        {
            "serverName": "chef-prod",
            "outcome": "SKIPPED",
            "reason": "no free server slot (2 of 3 used; one is kept free for you)",
            "drillServer": None,
            "backupId": None,
            "executionArn": None,
        }
    ]
    assert started(drills) == []
    assert emulator.calls_to("CreateServer") == []


def test_a_backup_the_runs_retention_deletes_is_never_restored(
    emulator: Emulator, cloud: Cloud, drills: str
) -> None:
    # Kept at retain 1: the run's new backup replaces the only good one once it is OK.
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **WEEKLY, **{"opsworks-cm-backup:retain": "1"})
    going = add_own_backup(emulator, "chef-prod", 1)

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert [d["backupId"] for d in report["results"][0]["deferredDeletes"]] == [going]
    [drill] = report["drills"]
    assert drill["outcome"] == "SKIPPED"
    assert "being deleted by this run's retention" in drill["reason"]
    assert started(drills) == []


@pytest.mark.parametrize(
    "event",
    [
        {"source": "retry", "scheduledTime": SLOT, "attempt": 1, "servers": ["chef-prod"]},
        {"servers": ["chef-prod"]},
        {"dryRun": True},
    ],
    ids=["a retry of the slot", "a manual run", "a dry run"],
)
def test_only_the_slots_own_run_starts_drills(
    emulator: Emulator, cloud: Cloud, drills: str, event: dict[str, Any]
) -> None:
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **WEEKLY)
    add_own_backup(emulator, "chef-prod", 1)

    report = lambda_handler(event, FakeLambdaContext())

    assert report["drills"] == []
    assert started(drills) == []


def test_a_leftover_that_cannot_be_deleted_counts_as_a_failed_cleanup(
    emulator: Emulator, cloud: Cloud, drills: str, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        return ValidationException("refused") if operation == "DeleteServer" else None

    emulator.faults.append(refuse)
    emulator.backend.add_server(
        "drill-chef-prod-0a1b2c",
        tags={
            "opsworks-cm-backup:drill-of": "chef-prod",
            "opsworks-cm-backup:drill-expires": "2026-01-05T11:00:00Z",
        },
    )
    capsys.readouterr()

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    assert [d["outcome"] for d in report["drills"]] == ["NOT_DELETED"]
    [metrics] = published(capsys)
    assert metrics["RestoreDrillCleanupFailures"] in (1.0, [1.0])


def test_without_a_history_table_no_drill_starts_as_none_can_be_told_due(
    emulator: Emulator, cloud: Cloud, drills: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HISTORY_TABLE")
    get_settings.cache_clear()
    emulator.backend.add_server("chef-prod")
    tag(emulator, "chef-prod", **WEEKLY)
    add_own_backup(emulator, "chef-prod", 1)

    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    [drill] = report["drills"]
    assert drill["outcome"] == "SKIPPED"
    assert "no history table (HISTORY_TABLE) to tell when a drill is due" in drill["reason"]
    assert started(drills) == []


def test_the_cleanup_alert_about_the_largest_fleet_fits_one_sns_message(cloud: Cloud) -> None:
    # Given a drill server of every server of the largest fleet that could not be deleted, the
    # service's words in each reason (ten times over: nothing bounds them)
    sns: Any = boto3.client("sns")
    topic = sns.create_topic(Name="opsworks-cm-backup-alerts")["TopicArn"]
    sent: list[str] = []

    class Kept(Alerts):
        def publish(self, subject: str, message: str) -> None:
            sent.append(message)
            super().publish(subject, message)

    servers = largest_fleet()
    failed = [
        DrillReport(
            server_name=long_name(n),
            outcome="NOT_DELETED",
            reason=f"drill server left over could not be deleted: {SERVICE_WORDS * 10}",
            drill_server=f"drill-{long_name(n)[:26]}-{n:06d}",
        )
        for n in range(servers)
    ]
    services = Services(
        opsworkscm=cast(OpsWorksCM, None), followers=Followers(alerts=Kept(sns, topic))
    )

    # When the run alerts about them
    drill_runs._alert_left(failed, services)

    # Then SNS took it (moto refuses a message over 256 KiB): the first drill servers, each
    # reason cut, then how many more and where to find them
    [text] = sent
    size = len(text.encode())
    print(f"\ncleanup alert about {servers} drill servers: {size:,} bytes")
    assert size <= ALERT_BYTES
    listed = [line for line in text.splitlines() if line.startswith("- drill-")]
    assert 0 < len(listed) < servers
    assert max(len(line) for line in listed) < 100 + REASON_BYTES
    [more] = [line for line in text.splitlines() if line.startswith("- ... and ")]
    assert more.startswith(f"- ... and {servers - len(listed)} more, not listed here")
    assert text.startswith(f"{servers} OpsWorks CM restore drill server(s) are still running")
