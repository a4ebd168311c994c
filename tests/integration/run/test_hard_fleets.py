"""Hard fleets through the real handler: a full account, a recreated server, a person's backup
that looks like the product's, one server's error, an answer lost at the worst moment."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from backup_orchestrator.handlers.orchestrator import lambda_handler
from local.emulator import Emulator, ManualClock
from local.emulator.errors import (
    AccessDeniedException,
    InternalFailure,
    LimitExceededException,
    ServiceError,
)
from tests.conftest import FakeLambdaContext, add_own_backup
from tests.support.fleet import (
    Cloud,
    LambdaKilled,
    killed_at_hand_over,
    mutating_calls,
    run_with_quick_retries,
    tag,
)

SCHEDULED = {"source": "schedule", "scheduledTime": "2026-01-05T12:00:00Z"}
RETAIN_TAG = "opsworks-cm-backup:retain"


def results(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["serverName"]: r for r in report["results"]}


def outcomes(report: dict[str, Any]) -> dict[str, str]:
    return {r["serverName"]: r["outcome"] for r in report["results"]}


def emf(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The run's metrics (the per-server BackupAgeHours are printed apart)."""
    printed = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x]
    [metrics] = [m for m in printed if "BackupsStarted" in m]
    return {k: v[0] if isinstance(v, list) else v for k, v in metrics.items()}


def test_full_account_backs_up_every_server_that_can_make_room(
    emulator: Emulator, clock: ManualClock, cloud: Cloud, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a full account (50 of 50): 46 backups made by hand for an untagged server, tagged
    # servers a and b with two backups of the product's each, and a new tagged server c
    backend = emulator.backend
    for name in ("a", "b", "c", "other"):
        backend.add_server(name)
    tag(emulator, "a", "b", "c")
    for minutes in range(46):
        backend.add_backup("other", clock.now() - timedelta(days=3, minutes=minutes))
    older = {name: add_own_backup(emulator, name, 2) for name in ("a", "b")}
    newer = {name: add_own_backup(emulator, name, 1) for name in ("a", "b")}
    assert backend.manual_backups_used() == 50

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then a and b are backed up, each losing its older backup now; c fails, saying why, and
    # that failure is counted in the metric the BackupsFailedToStart alarm watches
    assert outcomes(report) == {"a": "STARTED", "b": "STARTED", "c": "FAILED"}
    for name in ("a", "b"):
        assert [d["backupId"] for d in results(report)[name]["deleted"]] == [older[name]]
        assert backend.backups[newer[name]].status == "OK"
    assert "no room" in results(report)["c"]["reason"]
    assert report["quota"]["usedAfterRun"] == backend.manual_backups_used() == 50
    metrics = emf(capsys)
    assert (metrics["BackupsStarted"], metrics["BackupsFailedToStart"]) == (2, 1)


def test_a_retain_tag_in_other_digits_fails_that_server_alone(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given a server whose retain tag is an Arabic-Indic three (a Unicode digit the service
    # accepts in tag values), next to a healthy one
    emulator.backend.add_server("chef-a")
    emulator.backend.add_server("chef-b")
    tag(emulator, "chef-a", **{RETAIN_TAG: "٣"})
    tag(emulator, "chef-b")

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then chef-a fails naming its tag, and chef-b is backed up
    assert outcomes(report) == {"chef-a": "FAILED", "chef-b": "STARTED"}
    assert RETAIN_TAG in results(report)["chef-a"]["reason"]
    assert mutating_calls(emulator) == ["CreateBackup"]


def test_a_persons_backup_that_looks_like_the_products_is_kept(
    emulator: Emulator, clock: ManualClock, cloud: Cloud
) -> None:
    # Given a server keeping one backup, with a golden image a person described with a
    # lookalike of the product's marker, older than the product's own backup
    backend = emulator.backend
    backend.add_server("chef-a")
    tag(emulator, "chef-a", **{RETAIN_TAG: "1"})
    golden = backend.add_backup(
        "chef-a",
        clock.now() - timedelta(days=30),
        description="[opsworks-cm-backup-exempt] golden image before the migration",
    ).backup_id
    own = add_own_backup(emulator, "chef-a", 1)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then only the product's own older backup is to go; the golden image is never touched
    result = results(report)["chef-a"]
    assert [d["backupId"] for d in result["deferredDeletes"]] == [own]
    assert golden not in json.dumps(report)
    assert backend.backups[golden].status == "OK"


def test_a_recreated_server_never_inherits_the_old_servers_backups(
    emulator: Emulator, clock: ManualClock, cloud: Cloud
) -> None:
    # Given Chef server prod with backups of the product's, deleted, and Puppet server prod
    # created in its place with backups of its own, keeping one
    backend = emulator.backend
    backend.add_server("prod")
    old = [add_own_backup(emulator, "prod", d) for d in (12, 11)]
    backend.remove_server("prod")
    backend.add_server(
        "prod", engine="Puppet", created_at=clock.now() - timedelta(days=10), tags={}
    )
    tag(emulator, "prod", **{RETAIN_TAG: "1"})
    mine = [add_own_backup(emulator, "prod", d) for d in (2, 1)]
    backend.config.manual_backup_limit = 4

    # When the schedule fires (the account is full)
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then room is made from the new server's own backups only, the old server's backups stay,
    # and the report lists them as backups of a deleted server
    result = results(report)["prod"]
    assert result["outcome"] == "STARTED"
    assert [d["backupId"] for d in result["deleted"]] == [mine[0]]
    assert [d["backupId"] for d in result["deferredDeletes"]] == [mine[1]]
    assert all(backend.backups[b].status == "OK" for b in old)
    orphans = report["backupsOfDeletedServers"]
    assert sorted(o["backupId"] for o in orphans) == sorted(old)
    assert all(o["serverName"] == "prod" and o["own"] for o in orphans)


@pytest.mark.parametrize(
    "error",
    [AccessDeniedException("not allowed"), InternalFailure("injected")],
    ids=["access-denied", "5xx-every-attempt"],
)
def test_a_server_whose_tags_cannot_be_read_fails_alone(
    emulator: Emulator, cloud: Cloud, error: ServiceError
) -> None:
    # Given three tagged servers, and ListTagsForResource failing for chef-b whatever happens
    for name in ("chef-a", "chef-b", "chef-c"):
        emulator.backend.add_server(name)
    tag(emulator, "chef-a", "chef-b", "chef-c")
    arn = emulator.backend.servers["chef-b"].arn

    def refuse(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation == "ListTagsForResource" and params["ResourceArn"] == arn:
            return error
        return None

    emulator.faults.append(refuse)

    # When the schedule fires
    report = run_with_quick_retries(SCHEDULED)

    # Then chef-b fails, saying why, and the others are backed up
    assert outcomes(report) == {"chef-a": "STARTED", "chef-b": "FAILED", "chef-c": "STARTED"}
    assert error.code in results(report)["chef-b"]["reason"]
    assert "tags could not be read" in results(report)["chef-b"]["reason"]


def test_a_lost_answer_then_a_full_limit_still_finds_and_follows_the_backup(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given one free slot, and the first CreateBackup taking effect with its answer lost
    # (HTTP 500), the retry answered with LimitExceededException (the slot is now taken)
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    emulator.config.manual_backup_limit = 1
    answers: list[str] = []

    def lost_then_full(operation: str, params: dict[str, Any]) -> ServiceError | None:
        if operation != "CreateBackup":
            return None
        answers.append(operation)
        if len(answers) == 1:
            with emulator.backend.lock:
                emulator.backend.op_create_backup(params, "caller")
            return InternalFailure("the response was lost")
        return LimitExceededException("The maximum number of manual backups (1) has been reached.")

    emulator.faults.append(lost_then_full)

    # When the schedule fires
    report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the backup the first attempt started is reported STARTED and handed to the tracker
    result = results(report)["chef-a"]
    [made] = emulator.backend.backups
    assert (result["outcome"], result["backupId"]) == ("STARTED", made)
    assert cloud.tracker_inputs()[0]["backups"][0]["backupId"] == made
    assert len(answers) == 2


def test_a_lost_answer_that_cannot_be_checked_fails_saying_so(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given every CreateBackup answered HTTP 500 and every check of the server's backups too
    emulator.backend.add_server("chef-a")
    tag(emulator, "chef-a")
    failing = {"CreateBackup", "DescribeBackups"}
    reads = 0

    def outage(operation: str, params: dict[str, Any]) -> ServiceError | None:
        nonlocal reads
        if operation == "DescribeBackups" and not params:
            reads += 1
            if reads == 1:  # the run's own read of the account goes through
                return None
        return InternalFailure("injected") if operation in failing else None

    emulator.faults.append(outage)

    # When the schedule fires
    report = run_with_quick_retries(SCHEDULED)

    # Then the server failed and the reason says the outcome is unknown
    result = results(report)["chef-a"]
    assert result["outcome"] == "FAILED"
    assert "whether it took effect is unknown" in result["reason"]


def test_a_retried_scheduled_run_reports_what_the_service_says_and_keeps_retention(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given two servers keeping two backups, and the first delivery dying as it hands over
    for name in ("chef-a", "chef-b"):
        emulator.backend.add_server(name)
        tag(emulator, name, **{RETAIN_TAG: "2"})
    older = {
        name: [add_own_backup(emulator, name, d) for d in (1, 2, 3)]
        for name in ("chef-a", "chef-b")
    }
    with killed_at_hand_over():
        with pytest.raises(LambdaKilled):
            lambda_handler(SCHEDULED, FakeLambdaContext())
        # When the slot is delivered again
        report = lambda_handler(SCHEDULED, FakeLambdaContext())

    # Then the backups of the first attempt are followed with their deferred deletions, and the
    # quota is what the service says
    assert outcomes(report) == {"chef-a": "STARTED", "chef-b": "STARTED"}
    assert [c.operation for c in emulator.calls_to("CreateBackup")] == ["CreateBackup"] * 2
    used = emulator.backend.manual_backups_used()
    assert report["quota"] == {"used": 8, "maximum": 50, "usedAfterRun": used, "usedWhenSettled": 4}
    for name, backups in older.items():
        assert [d["backupId"] for d in results(report)[name]["deferredDeletes"]] == backups[1:]
    [handed] = cloud.tracker_inputs()
    assert {b["serverName"]: b["deferredDeletes"] for b in handed["backups"]} == {
        name: backups[1:] for name, backups in older.items()
    }


def test_a_retried_manual_invocation_adopts_the_backups_its_first_attempt_started(
    emulator: Emulator, cloud: Cloud
) -> None:
    # Given a manual invocation that dies as it hands its backup to the tracker
    emulator.backend.add_server("chef-a")
    event = {"servers": ["chef-a"], "description": "before the upgrade"}
    first_attempt = FakeLambdaContext()
    with killed_at_hand_over():
        with pytest.raises(LambdaKilled):
            lambda_handler(event, first_attempt)
        # When Lambda retries the invocation (same request id)
        retry = FakeLambdaContext(aws_request_id=first_attempt.aws_request_id)
        report = lambda_handler(event, retry)

    # Then no second backup is made: the first attempt's is reported and followed
    [made] = emulator.backend.backups
    assert (results(report)["chef-a"]["outcome"], results(report)["chef-a"]["backupId"]) == (
        "STARTED",
        made,
    )
    assert mutating_calls(emulator) == ["CreateBackup"]
    assert cloud.tracker_inputs()[0]["backups"][0]["backupId"] == made
