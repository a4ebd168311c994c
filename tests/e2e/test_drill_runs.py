"""Restore drills from the scheduled run, end to end: the real handler with the synthesized
stack's environment, its tracker and drill state machines in moto, and the emulator. A due server
is drilled after its backup; a leftover drill server is deleted first (and alerts when it cannot
be); a drill server is never backed up or judged; an operator's drill runs in the same state
machine. (When a server is due again: tests/unit/test_drills.py, from the record the drill state
machine writes: tests/infra/test_drill_e2e.py; no free slot: tests/orchestrator/test_drill_starts.py
and tests/infra/test_drill_e2e.py.)"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from backup_orchestrator.aws.stepfunctions import execution_arn
from backup_orchestrator.domain.planner import DRILL_SERVER
from backup_orchestrator.handlers.orchestrator import lambda_handler
from backup_orchestrator.run.drills import LEFT_RUNNING
from local.cloud import LocalCloud
from local.emulator import Emulator, ManualClock
from local.emulator.errors import ServiceError, ValidationException
from local.runtime import wait_for_execution
from owcm_backup.main import main
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.e2e.conftest import Setup
from tests.e2e.test_drill import status_at

SELECTED = {"opsworks-cm-backup": "enabled"}
WEEKLY = {**SELECTED, "opsworks-cm-backup:restore-drill": "weekly"}
LEFTOVER = "drill-chef-prod-0a1b2c"


# A restore and a deletion take a poll each; a minute's deadline: the drill polls every
# second, like the tracker here.
CLOUD = Setup(server_polls=True, restore_seconds=60, server_seconds=60, drill_deadline_seconds=60)


def scheduled(clock: ManualClock) -> dict[str, Any]:
    event = {"source": "schedule", "scheduledTime": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")}
    report: dict[str, Any] = lambda_handler(event, FakeLambdaContext())
    return report


def finished(arns: list[str]) -> list[dict[str, Any]]:
    sfn = boto3.client("stepfunctions")
    return [wait_for_execution(sfn, arn, timeout=60) for arn in arns]


def drill_executions(cloud: LocalCloud) -> list[str]:
    listed = boto3.client("stepfunctions").list_executions(stateMachineArn=cloud.drill_arn)
    return [e["name"] for e in listed["executions"]]


def stamp(when: datetime) -> str:
    """A time as the drill-expires tag writes it."""
    return f"{when:%Y-%m-%dT%H:%M:%SZ}"


def leftover(emulator: Emulator, clock: ManualClock, expires: datetime, **tags: str) -> None:
    """A drill server of chef-prod, as an earlier drill created it."""
    emulator.backend.add_server(
        LEFTOVER,
        tags={
            "opsworks-cm-backup:drill-of": "chef-prod",
            "opsworks-cm-backup:drill-backup": "chef-prod-20260101000000000",
            "opsworks-cm-backup:drill-expires": stamp(expires),
            **tags,
        },
    )


def test_the_slots_run_drills_a_due_server_after_its_backup(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud
) -> None:
    emulator.config.backup_seconds = 60  # the run's backup: a poll of the tracker
    emulator.backend.add_server("chef-prod", tags=WEEKLY)
    restored = add_own_backup(emulator, "chef-prod", 1)
    seen = status_at(emulator, "CreateServer", "chef-prod")

    report = scheduled(clock)
    [drilled] = report["drills"]
    tracker, execution = finished([report["trackerExecutionArn"], drilled["executionArn"]])

    assert report["results"][0]["outcome"] == "STARTED"
    assert drilled["outcome"] == "STARTED" and drilled["backupId"] == restored
    assert drilled["drillServer"].startswith("drill-chef-prod-")
    assert (tracker["status"], execution["status"]) == ("SUCCEEDED", "SUCCEEDED")
    result = json.loads(execution["output"])["result"]
    assert result["outcome"] == "OK" and result["seconds"] > 0
    drill_input = json.loads(execution["input"])
    assert drill_input["pollSeconds"] == 1
    # The drill server was created once the run's own backup was done.
    assert seen == ["HEALTHY"]
    assert len(emulator.calls_to("CreateServer")) == 1
    assert drilled["drillServer"] not in emulator.backend.servers
    assert cloud.alerts() == []


def test_leftover_drill_servers_are_deleted_first_and_one_under_way_is_left_alone(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud
) -> None:
    emulator.backend.add_server("chef-prod")
    # Past its drill-expires time.
    leftover(emulator, clock, clock.now() - timedelta(minutes=1))
    # Within it, but the execution that made it has ended.
    ended = execution_arn(cloud.drill_arn, "scheduled-20260104T120000Z-puppet-prod")
    emulator.backend.add_server(
        "drill-puppet-prod-1a2b3c",
        engine="Puppet",
        tags={
            "opsworks-cm-backup:drill-of": "puppet-prod",
            "opsworks-cm-backup:drill-expires": stamp(clock.now() + timedelta(hours=4)),
            "opsworks-cm-backup:drill-execution": ended,
        },
    )
    # A drill under way (made by `owcm-backup drill`), its selection tag copied by somebody.
    emulator.backend.add_server(
        "drill-chef-prod-9f8e7d",
        tags={
            **SELECTED,
            "opsworks-cm-backup:drill-of": "chef-prod",
            "opsworks-cm-backup:drill-expires": stamp(clock.now() + timedelta(hours=1)),
        },
    )

    report = scheduled(clock)

    deleted = {d["drillServer"]: d for d in report["drills"]}
    assert {d["outcome"] for d in deleted.values()} == {"DELETED"}
    assert set(deleted) == {LEFTOVER, "drill-puppet-prod-1a2b3c"}
    assert deleted[LEFTOVER]["serverName"] == "chef-prod"
    assert "its drill should have ended by" in deleted[LEFTOVER]["reason"]
    assert (
        "(execution scheduled-20260104T120000Z-puppet-prod) has ended"
        in (deleted["drill-puppet-prod-1a2b3c"]["reason"])
    )
    assert {emulator.backend.servers[name].status for name in deleted} == {"DELETING"}
    # The drill under way is neither deleted, nor backed up, nor judged.
    assert emulator.backend.servers["drill-chef-prod-9f8e7d"].status == "HEALTHY"
    assert report["results"] == [] and report["compliance"] == []
    assert cloud.alerts() == []


def test_a_leftover_that_cannot_be_deleted_is_an_urgent_alert(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud
) -> None:
    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DeleteServer":
            return ValidationException("The server is protected by a policy")
        return None

    emulator.faults.append(refuse)
    emulator.backend.add_server("chef-prod")
    leftover(emulator, clock, clock.now() - timedelta(minutes=1))

    [left] = scheduled(clock)["drills"]

    assert left["outcome"] == "NOT_DELETED"
    assert "protected by a policy" in left["reason"]
    [alert] = cloud.alerts()
    assert alert["subject"] == LEFT_RUNNING
    assert f"- {LEFTOVER} (a drill of chef-prod)" in alert["message"]
    assert "aws opsworkscm delete-server --server-name NAME" in alert["message"]


def test_a_manual_run_starts_no_drill_and_never_backs_up_a_drill_server(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud
) -> None:
    leftover(emulator, clock, clock.now() - timedelta(minutes=1))

    report = lambda_handler({"servers": [LEFTOVER]}, FakeLambdaContext())

    assert [(r["outcome"], r["reason"]) for r in report["results"]] == [("SKIPPED", DRILL_SERVER)]
    assert report["drills"] == [] and report["compliance"] == []
    assert emulator.calls_to("CreateBackup", "DeleteServer") == []


def test_the_operators_drill_runs_in_the_same_state_machine_and_status_shows_it(
    emulator: Emulator, clock: ManualClock, cloud: LocalCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.backend.add_server("chef-prod", tags=SELECTED)
    backup = add_own_backup(emulator, "chef-prod", 1)

    machine = ["--state-machine-arn", cloud.drill_arn]
    code = main(["drill", "--servers", "chef-prod", "--wait", "--poll", "0.2", *machine])
    drilled = capsys.readouterr().out
    main(["status"])
    status = capsys.readouterr().out
    main(["status", "--json"])
    [row] = json.loads(capsys.readouterr().out)["servers"]

    assert code == 0
    assert "chef-prod  OK" in drilled and "1 s" in drilled
    assert drill_executions(cloud)[0].startswith("manual-")
    assert (row["lastDrill"]["result"], row["lastDrill"]["backupId"]) == ("OK", backup)
    assert row["lastDrill"]["cleanupConfirmed"] is True
    last = status[status.index("Last restore drills:") :]
    assert "chef-prod  OK" in last and "HEALTHY after 1 s" in last
