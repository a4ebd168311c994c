"""The synthesized restore drill state machine, run in moto's Step Functions interpreter against
the emulator: a drill that restores, one whose server ends FAILED, one past its deadline, one
whose server cannot be deleted, one that waits for its server's backup, one with no free slot.

Each poll of a server (DescribeServers by name) is a minute of the emulated account's life; most
drills poll without waiting (pollSeconds 0), one waits a second a poll to be measured."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from backup_orchestrator.aws.clients import opsworkscm_client
from backup_orchestrator.aws.history import History
from backup_orchestrator.aws.opsworkscm import OpsWorksCM
from backup_orchestrator.aws.stepfunctions import execution_arn, start_execution
from backup_orchestrator.domain import drill_servers, drills
from backup_orchestrator.domain.history_budget import DRILL_EVENTS, TAKEN_EVENTS
from backup_orchestrator.domain.history_budget import DRILL_POLL_EVENTS as POLL_EVENTS
from local.cloud import LocalCloud
from local.emulator import Backend, Emulator, ManualClock
from local.emulator.errors import ServiceError, ValidationException
from local.emulator.faults import BeforeCall, DeniedAsNotFound, LostResponses, account_change
from local.runtime import wait_for_execution
from tests.e2e.conftest import Setup

RUN = "manual-drilltest"


# A restore takes two polls, a deletion one.
CLOUD = Setup(machines=("Drill",), server_polls=True, restore_seconds=120, server_seconds=60)


def drill(
    cloud: LocalCloud,
    emulator: Emulator,
    *,
    source: str = "chef-prod",
    poll: int = 0,
    deadline: int = 3600,
    cleanup: int = 600,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Drill `source` from the backup a drill restores through the drill state machine; return
    the execution's input and its description once it has ended."""
    service = OpsWorksCM(opsworkscm_client())
    [server] = [s for s in service.with_tags(service.servers()) if s.name == source]
    backup, _ = drills.restorable(server, service.backups(source), going=())
    assert backup is not None
    start = drill_servers.Start(
        server,
        backup,
        drill_servers.server_name(source, RUN),
        drill_servers.execution_name(RUN, source),
    )
    payload = drill_servers.execution_input(
        start,
        run_id=RUN,
        now=service.now(),
        poll_seconds=poll,
        deadline_seconds=deadline,
        execution_arn=execution_arn(cloud.drill_arn, start.execution),
    )
    payload["cleanupSeconds"] = cleanup
    sfn = boto3.client("stepfunctions")
    arn = start_execution(sfn, cloud.drill_arn, start.execution, payload)
    return payload, wait_for_execution(sfn, arn, timeout=60)


def output(execution: dict[str, Any]) -> dict[str, Any]:
    return dict(json.loads(execution.get("output") or "{}"))


def metrics() -> dict[str, set[str]]:
    """Each metric of the product's namespace, with the servers it was recorded for."""
    listed = boto3.client("cloudwatch").list_metrics(Namespace="OpsWorksCMBackup")["Metrics"]
    found: dict[str, set[str]] = {}
    for m in listed:
        servers = {d["Value"] for d in m["Dimensions"] if d["Name"] == "ServerName"}
        found.setdefault(m["MetricName"], set()).update(servers)
    return found


def recorded(cloud: LocalCloud) -> Any:
    return History(boto3.client("dynamodb"), cloud.history_table()).last_drills()["chef-prod"]


def status_at(emulator: Emulator, operation: str, server: str) -> list[str]:
    """The server's status each time `operation` is called, as the account has it then."""
    seen: list[str] = []

    def look(backend: Backend) -> None:
        backend.settle()
        seen.append(backend.servers[server].status)

    emulator.faults.insert(0, BeforeCall(operation, account_change(emulator, look), times=9))
    return seen


def history(execution: dict[str, Any]) -> list[str]:
    """The types of an execution's history events."""
    sfn = boto3.client("stepfunctions")
    pages = sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution["executionArn"]
    )
    return [event["type"] for page in pages for event in page["events"]]


def calls(emulator: Emulator, operation: str) -> list[dict[str, Any]]:
    return [c.params for c in emulator.calls_to(operation) if c.error is None]


@pytest.fixture
def chef(emulator: Emulator, clock: ManualClock) -> str:
    """chef-prod with a day-old good backup; the backup's id."""
    emulator.backend.add_server("chef-prod", KeyPair="ops")
    return emulator.backend.add_backup("chef-prod", clock.now() - timedelta(days=1)).backup_id


def test_a_drill_restores_the_backup_into_a_copy_measures_it_and_deletes_it(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    source = emulator.backend.servers["chef-prod"].describe()

    payload, execution = drill(cloud, emulator, poll=1)

    assert execution["status"] == "SUCCEEDED", execution
    result = output(execution)["result"]
    # HEALTHY at the second poll: two polls of a second each.
    assert (result["outcome"], result["seconds"]) == ("OK", 2)
    [created] = calls(emulator, "CreateServer")
    copied = {k: source[k] for k in (*drill_servers.COPIED, "KeyPair")}
    assert {k: created[k] for k in copied} == copied
    assert (created["BackupId"], created["DisableAutomatedBackup"]) == (chef, True)
    assert (
        created["ServerName"]
        == payload["drillServer"]
        == "drill-chef-prod-" + (payload["drillServer"][-6:])
    )
    assert {t["Key"]: t["Value"] for t in created["Tags"]}["opsworks-cm-backup:drill-of"] == (
        "chef-prod"
    )
    assert payload["drillServer"] not in emulator.backend.servers
    assert output(execution)["cleanup"]["confirmed"] is True
    last = recorded(cloud)
    assert (last.result, last.seconds, last.backup_id) == ("OK", 2, chef)
    assert (last.backup_age_seconds, last.cleanup_confirmed) == (86_400, True)
    found = metrics()
    assert found["RestoreDrillSeconds"] == {"chef-prod"}
    assert found["RestoreDrillsSucceeded"] == {"chef-prod"}
    assert "RestoreDrillsFailed" not in found
    assert cloud.alerts() == []


def test_a_drill_whose_server_ends_failed_alerts_counts_and_deletes_it(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    emulator.config.fail_restores = ("chef-*",)
    emulator.config.server_seconds = 180  # deleting it takes three polls

    payload, execution = drill(cloud, emulator)

    assert (execution["status"], execution["error"]) == ("FAILED", "DrillNeedsAttention")
    # Deleted once: while it is DELETING the drill waits, it does not ask again.
    asked = [c.params["ServerName"] for c in emulator.calls_to("DeleteServer")]
    assert asked == [payload["drillServer"]]
    assert output(execution) == {}
    [alert] = cloud.alerts()
    assert alert["subject"] == "OpsWorks CM restore drill failed"
    assert f"chef-prod: the server restored from backup {chef}" in alert["message"]
    assert "ended FAILED" in alert["message"] and "The restore from backup" in alert["message"]
    assert "The drill server was deleted and is gone" in alert["message"]
    assert payload["drillServer"] not in emulator.backend.servers
    assert metrics()["RestoreDrillsFailed"] == {"chef-prod"}
    assert (recorded(cloud).result, recorded(cloud).cleanup_confirmed) == ("FAILED", True)


def test_a_drill_past_its_deadline_is_deleted_while_still_creating_and_alerts(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    emulator.config.restore_seconds = 10**6

    payload, execution = drill(cloud, emulator, deadline=0)

    assert execution["status"] == "FAILED"
    [alert] = cloud.alerts()
    assert "was still CREATING after 0 s, the deadline" in alert["message"]
    assert payload["drillServer"] in [c["ServerName"] for c in calls(emulator, "DeleteServer")]
    assert payload["drillServer"] not in emulator.backend.servers
    assert recorded(cloud).result == "TIMED_OUT"


def test_a_drill_server_that_cannot_be_deleted_is_an_urgent_alert(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "DeleteServer":
            return ValidationException("The server is protected by a policy")
        return None

    emulator.faults.append(refuse)
    # And CreateServer's answer is lost: the drill's function finds the server it created (its
    # tag names this execution), and goes on.
    emulator.faults.append(LostResponses(emulator, 1.0, seed=1, operations=("CreateServer",)))

    payload, execution = drill(cloud, emulator)

    assert execution["status"] == "FAILED"
    [alert] = cloud.alerts()
    assert alert["subject"] == "URGENT: OpsWorks CM restore drill server left running"
    assert f"the drill server {payload['drillServer']} could not be deleted" in alert["message"]
    assert f"--server-name {payload['drillServer']}" in alert["message"]
    assert "HEALTHY after" in alert["message"]  # the drill itself went well
    assert emulator.backend.servers[payload["drillServer"]].status == "HEALTHY"
    assert "RestoreDrillCleanupFailures" in metrics()
    assert recorded(cloud).cleanup_confirmed is False
    # The longest path a drill takes but for the check of a taken name (OK, then its cleanup
    # fails): what its history is planned with (history_budget.DRILL_EVENTS), besides its polls.
    found = history(execution)
    assert len(found) == (
        DRILL_EVENTS - TAKEN_EVENTS + found.count("WaitStateEntered") * POLL_EVENTS
    )


def test_a_drill_waits_for_its_server_to_finish_a_backup_before_creating_anything(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    # The run that starts a drill has just started the server's backup: two minutes of it.
    emulator.backend.op_create_backup({"ServerName": "chef-prod"}, "caller")
    seen = status_at(emulator, "CreateServer", "chef-prod")

    _, execution = drill(cloud, emulator)

    assert execution["status"] == "SUCCEEDED"
    assert seen == ["HEALTHY"]
    # It found its server BACKING_UP, waited a poll (a minute), found it HEALTHY, and restored
    # the backup it was given, not the one being made.
    sources = [c for c in calls(emulator, "DescribeServers") if c == {"ServerName": "chef-prod"}]
    assert len(sources) == 2
    assert calls(emulator, "CreateServer")[0]["BackupId"] == chef


def test_a_drill_with_no_free_slot_at_creation_creates_nothing(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    # chef-prod and the operator's new server since the drill was planned: one slot left.
    emulator.config.server_limit = 3
    emulator.backend.add_server("chef-new")

    _, execution = drill(cloud, emulator)

    assert execution["status"] == "SUCCEEDED"
    result = output(execution)["result"]
    assert result["outcome"] == "SKIPPED"
    assert "no free server slot (2 of 3 used; one is kept free for you)" in result["line"]
    assert calls(emulator, "CreateServer") == []
    assert cloud.alerts() == []
    assert recorded(cloud).result == "SKIPPED"


def test_an_error_in_the_middle_of_a_drill_still_deletes_its_server_and_alerts(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    # The first check of the new server is refused (a permission, say): the drill cannot go
    # on, but the server it created must not be left running.
    refused: list[str] = []

    def refuse_once(operation: str, params: dict[str, Any]) -> ServiceError | None:
        name = params.get("ServerName", "")
        if operation == "DescribeServers" and name.startswith("drill-") and not refused:
            refused.append(name)
            return ValidationException("User is not authorized to describe this server")
        return None

    emulator.faults.insert(0, refuse_once)

    payload, execution = drill(cloud, emulator)

    assert refused == [payload["drillServer"]]
    assert execution["status"] == "FAILED"
    assert [c["ServerName"] for c in calls(emulator, "CreateServer")] == [payload["drillServer"]]
    assert payload["drillServer"] in [c["ServerName"] for c in calls(emulator, "DeleteServer")]
    assert payload["drillServer"] not in emulator.backend.servers
    [alert] = cloud.alerts()
    assert alert["subject"] == "OpsWorks CM restore drill failed"
    assert "not authorized" in alert["message"]
    assert "The drill server was deleted and is gone" in alert["message"]
    assert (recorded(cloud).result, recorded(cloud).cleanup_confirmed) == ("ERROR", True)


def test_a_lost_answer_to_create_server_still_ends_in_one_server_followed_and_deleted(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    lost = LostResponses(emulator, 1.0, seed=1, operations=("CreateServer",), max_in_a_row=1)
    emulator.faults.append(lost)

    payload, execution = drill(cloud, emulator, poll=1)

    assert [op for op, _ in lost.lost] == ["CreateServer"]
    assert execution["status"] == "SUCCEEDED", execution

    assert output(execution)["result"]["outcome"] == "OK"
    assert payload["drillServer"] not in emulator.backend.servers
    assert output(execution)["cleanup"]["confirmed"] is True


def test_a_server_that_took_the_drills_name_is_never_followed_or_deleted(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    # Somebody's server already has the name this drill would give its own (and even says it
    # restores chef-prod): it carries no tag naming this drill's execution.
    name = drill_servers.server_name("chef-prod", RUN)
    emulator.backend.add_server(name, tags={drill_servers.DRILL_OF: "chef-prod"})

    _, execution = drill(cloud, emulator)

    assert execution["status"] == "FAILED"
    assert calls(emulator, "DeleteServer") == []
    assert emulator.backend.servers[name].status == "HEALTHY"
    assert recorded(cloud).result == "ERROR"
    [alert] = cloud.alerts()
    assert alert["subject"] == "OpsWorks CM restore drill failed"
    assert (
        f"a server named {name} already exists and was not created by this drill"
        in (alert["message"])
    )
    assert "that server was left alone" in alert["message"]


def test_a_drill_server_that_lost_its_tag_is_left_running_and_urgent(
    emulator: Emulator, cloud: LocalCloud, chef: str
) -> None:
    # The drill created its server, but when it comes to delete it the server no longer says it
    # is this drill's (its tags were changed meanwhile): it is not deleted, and a person must look.
    def untag(backend: Backend) -> None:
        for server in backend.servers.values():
            if server.name.startswith("drill-"):
                backend.op_untag_resource(
                    {"ResourceArn": server.arn, "TagKeys": [drill_servers.DRILL_EXECUTION]}, "x"
                )

    emulator.faults.insert(
        0,
        BeforeCall(
            "ListTagsForResource",
            account_change(emulator, untag),
            when=lambda params: ":server/drill-" in params["ResourceArn"],
        ),
    )

    payload, execution = drill(cloud, emulator)

    assert execution["status"] == "FAILED"
    assert calls(emulator, "DeleteServer") == []
    assert payload["drillServer"] in emulator.backend.servers
    [alert] = cloud.alerts()
    assert alert["subject"] == "URGENT: OpsWorks CM restore drill server left running"
    assert (
        f"the drill server {payload['drillServer']} does not carry this execution"
        in (alert["message"])
    )
    assert "RestoreDrillCleanupFailures" in metrics()
    assert recorded(cloud).cleanup_confirmed is False


@pytest.mark.parametrize("denied", ["DeleteServer", "DescribeServers"])
def test_a_drill_server_whose_deletion_is_denied_as_not_found_is_left_running_and_urgent(
    emulator: Emulator,
    cloud: LocalCloud,
    chef: str,
    denied: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A policy denies the drill's DeleteServer, or (once it is asked to delete, while the
    # deletion takes long) the DescribeServers that would confirm it gone, and the service
    # answers "not found" (safety rule 16): the listing still shows the server, so it is not
    # recorded gone.
    name = drill_servers.server_name("chef-prod", RUN)
    if denied == "DeleteServer":
        emulator.faults.append(DeniedAsNotFound(emulator, ["DeleteServer"], [name]))
    else:
        emulator.config.server_seconds = 10**6  # how long a server takes to delete
        later = DeniedAsNotFound(emulator, ["DescribeServers"], [name])
        emulator.faults.append(BeforeCall("DeleteServer", lambda: emulator.faults.append(later)))

    _, execution = drill(cloud, emulator)

    assert execution["status"] == "FAILED"
    [alert] = cloud.alerts()
    assert alert["subject"] == "URGENT: OpsWorks CM restore drill server left running"
    assert "access may be denied" in alert["message"]
    assert name in emulator.backend.servers
    assert recorded(cloud).cleanup_confirmed is False
    # The drill's function counted the denial (EMF in its log), which the AccessDenied alarm
    # watches.
    assert '"AccessDeniedAnswers"' in capsys.readouterr().out
