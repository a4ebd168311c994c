"""The report a run returns: JSON with camelCase keys, and what it says about the run; and the
record of it the idempotency table keeps, within its bytes at the largest fleet."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backup_orchestrator.contract.report import (
    RECORD_BYTES,
    RECORD_TRACKERS,
    ComplianceReport,
    DeletionReport,
    DrillReport,
    NextTryReport,
    OrphanReport,
    QuotaReport,
    RetainReport,
    RunRecord,
    RunReport,
    ServerResult,
)
from backup_orchestrator.domain.records import Outcome
from tests.support.sizes import LONG_REASON, SERVICE_WORDS, largest_fleet

AT = datetime(2026, 1, 5, 12, 15, tzinfo=UTC)
QUOTA = QuotaReport(used=3, maximum=50, used_after_run=4, used_when_settled=2)


def judged(name: str, *, compliant: bool, catching_up: str | None = None) -> ComplianceReport:
    return ComplianceReport(
        server_name=name,
        selected=True,
        rpo_hours=29,
        newest_ok_backup=None,
        newest_ok_at=None,
        age_seconds=None,
        compliant=compliant,
        catching_up=catching_up,
        summary="",
    )


def report(*outcomes: Outcome, compliance: list[ComplianceReport] | None = None) -> RunReport:
    return RunReport(
        run_id="scheduled-20260105T120000Z",
        dry_run=False,
        quota=QUOTA,
        results=[
            ServerResult(server_name=f"chef-{n}", outcome=outcome, reason="r")
            for n, outcome in enumerate(outcomes)
        ],
        compliance=compliance or [],
    )


def test_the_report_is_json_with_camel_case_keys() -> None:
    # Given a run's report with a result of every kind of part
    run = RunReport(
        run_id="scheduled-20260105T120000Z",
        dry_run=False,
        quota=QUOTA,
        results=[
            ServerResult(
                server_name="chef-prod",
                outcome=Outcome.STARTED,
                backup_id="chef-prod-20260105120000000",
                reason="backup started",
                deleted=[DeletionReport(backup_id="old-1", reason="make room")],
                retain=RetainReport(asked=7, granted=7),
            )
        ],
        backups_of_deleted_servers=[
            OrphanReport(
                backup_id="gone-1", server_name="chef-gone", created_at=AT, status="OK", own=True
            )
        ],
        next_try=NextTryReport(attempt=1, at=AT, servers=["chef-busy"], schedule="retry-1"),
        drills=[DrillReport(server_name="chef-prod", outcome="SKIPPED", reason="not due")],
    )

    # When it is turned into the function's answer
    answer = run.to_json()

    # Then every key is camelCase, enums are their values and times are ISO 8601 strings
    assert answer["runId"] == "scheduled-20260105T120000Z"
    assert answer["quota"] == {"used": 3, "maximum": 50, "usedAfterRun": 4, "usedWhenSettled": 2}
    assert answer["results"] == [
        {
            "serverName": "chef-prod",
            "outcome": "STARTED",
            "backupId": "chef-prod-20260105120000000",
            "reason": "backup started",
            "deleted": [{"backupId": "old-1", "reason": "make room"}],
            "deferredDeletes": [],
            "retain": {
                "asked": 7,
                "granted": 7,
                "tiersAsked": None,
                "tiersGranted": None,
                "tier": None,
            },
            "notProven": [],
            "warnings": [],
        }
    ]
    assert answer["backupsOfDeletedServers"] == [
        {
            "backupId": "gone-1",
            "serverName": "chef-gone",
            "createdAt": "2026-01-05T12:15:00Z",
            "status": "OK",
            "own": True,
        }
    ]
    assert answer["nextTry"] == {
        "attempt": 1,
        "at": "2026-01-05T12:15:00Z",
        "servers": ["chef-busy"],
        "schedule": "retry-1",
        "waitingForRoom": [],
    }
    assert answer["drills"] == [
        {
            "serverName": "chef-prod",
            "outcome": "SKIPPED",
            "reason": "not due",
            "drillServer": None,
            "backupId": None,
            "executionArn": None,
        }
    ]


def test_what_a_run_did_not_do_is_in_the_report_as_empty_or_null() -> None:
    answer = report().to_json()

    assert answer == {
        "runId": "scheduled-20260105T120000Z",
        "dryRun": False,
        "quota": {"used": 3, "maximum": 50, "usedAfterRun": 4, "usedWhenSettled": 2},
        "results": [],
        "backupsOfDeletedServers": [],
        "compliance": [],
        "nextTry": None,
        "trackerExecutionArn": None,
        "trackerExecutionArns": [],
        "trackerError": None,
        "drills": [],
        "ownership": None,
    }
    assert ServerResult(server_name="a", outcome=Outcome.SKIPPED, reason="r").to_json()[
        "retain"
    ] == {"asked": None, "granted": None, "tiersAsked": None, "tiersGranted": None, "tier": None}


def test_a_report_read_back_from_its_json_is_the_same_report() -> None:
    run = report(
        Outcome.STARTED, Outcome.FAILED, compliance=[judged("chef-0", compliant=False)]
    ).model_copy(update={"next_try": NextTryReport(attempt=2, at=AT, servers=[], schedule="s")})

    assert RunReport.model_validate(run.to_json()) == run
    # Built by field name or by key alike.
    assert ServerResult(server_name="a", outcome=Outcome.STARTED, reason="r") == (
        ServerResult.model_validate({"serverName": "a", "outcome": "STARTED", "reason": "r"})
    )


def test_each_report_has_lists_of_its_own() -> None:
    first, second = report(), report()

    first.results.append(ServerResult(server_name="a", outcome=Outcome.STARTED, reason="r"))
    first.drills.append(DrillReport(server_name="a", outcome="STARTED", reason="due"))

    assert (second.results, second.drills) == ([], [])
    assert ServerResult(server_name="b", outcome=Outcome.SKIPPED, reason="r").deleted == []


@pytest.mark.parametrize(
    ("compliant", "catching_up", "alerted"),
    [
        (True, None, False),
        (False, None, True),
        # Out of its RPO, but a backup of its own is under way: it is catching up.
        (False, "chef-0-20260105120000000", False),
        (True, "chef-0-20260105120000000", False),
    ],
)
def test_out_of_rpo_are_the_servers_not_compliant_and_not_catching_up(
    compliant: bool, catching_up: str | None, alerted: bool
) -> None:
    server = judged("chef-0", compliant=compliant, catching_up=catching_up)
    others = [judged("chef-ok", compliant=True), judged("chef-late", compliant=False)]

    run = report(compliance=[server, *others])

    assert [c.server_name for c in run.outside_rpo()] == (
        ["chef-0", "chef-late"] if alerted else ["chef-late"]
    )


def test_results_are_counted_by_outcome() -> None:
    run = report(Outcome.STARTED, Outcome.FAILED, Outcome.STARTED, Outcome.RETRYING)

    assert {outcome: run.count(outcome) for outcome in Outcome} == {
        Outcome.STARTED: 2,
        Outcome.PLANNED: 0,
        Outcome.SKIPPED: 0,
        Outcome.RETRYING: 1,
        Outcome.FAILED: 1,
    }


def test_a_runs_record_is_its_counts_trackers_and_each_servers_outcome() -> None:
    # Given a run with one server of each outcome, a tracker, a next try, compliance and drills
    run = report(Outcome.STARTED, Outcome.FAILED, Outcome.RETRYING, Outcome.SKIPPED)
    run.tracker_execution_arn = "arn:aws:states:us-east-1:123456789012:execution:t:run-1-ab"
    run.tracker_execution_arns = [run.tracker_execution_arn]
    run.next_try = NextTryReport(attempt=1, at=AT, servers=["chef-2"], schedule="retry-1")
    run.compliance = [judged("chef-0", compliant=True), judged("chef-1", compliant=False)]
    run.drills = [DrillReport(server_name="chef-0", outcome="STARTED", reason="due")]

    # When the idempotency table's record of it is made
    record = RunRecord.of(run).to_json()

    # Then it says what happened to every server, in camelCase JSON, and where the rest is
    assert record == {
        "runId": "scheduled-20260105T120000Z",
        "dryRun": False,
        "quota": {"used": 3, "maximum": 50, "usedAfterRun": 4, "usedWhenSettled": 2},
        "outcomes": {"STARTED": 1, "PLANNED": 0, "SKIPPED": 1, "RETRYING": 1, "FAILED": 1},
        "servers": {
            "FAILED": ["chef-1"],
            "RETRYING": ["chef-2"],
            "SKIPPED": ["chef-3"],
            "STARTED": ["chef-0"],
            "PLANNED": [],
        },
        "unlisted": 0,
        "trackerExecutionArn": run.tracker_execution_arn,
        "trackerExecutionArns": [run.tracker_execution_arn],
        "trackerExecutions": 1,
        "trackerError": None,
        "nextTry": {
            "attempt": 1,
            "at": "2026-01-05T12:15:00Z",
            "schedule": "retry-1",
            "waitingForRoom": 0,
        },
        "compliance": {"judged": 2, "outsideRpo": 1, "catchingUp": 0},
        "backupsOfDeletedServers": 0,
        "drills": {"STARTED": 1},
        "ownership": None,
        "wholeReport": (
            "in the orchestrator function's log, lines with run_id scheduled-20260105T120000Z: "
            '"run report" (the run), one "server outcome" per server (its outcome, reason, '
            'backup and deletions), one "drill outcome" per restore drill; `owcm-backup status` '
            "shows every server's compliance"
        ),
    }


@pytest.mark.parametrize("length", [8, 40])
def test_the_record_of_the_largest_fleet_names_what_fits_the_servers_not_backed_up_first(
    length: int,
) -> None:
    # Given a run of the largest fleet, its names `length` characters long, a third of the
    # servers not backed up (the last ones), the tracker's error at the service's length
    servers = largest_fleet()
    names = [f"s{n:0{length - 1}d}" for n in range(servers)]
    failed = set(names[-servers // 3 :])
    run = RunReport(
        run_id="scheduled-20260105T120000Z",
        dry_run=False,
        quota=QUOTA,
        results=[
            ServerResult(
                server_name=n,
                outcome=Outcome.FAILED if n in failed else Outcome.STARTED,
                reason=LONG_REASON,
            )
            for n in names
        ],
        tracker_error=SERVICE_WORDS * 20,
    )

    # When its record is made
    record = RunRecord.of(run).to_json()

    # Then it stays within its bytes; the failed servers are all named, and the started ones
    # as far as they fit: all of them with short names, and the count of those left out
    print(f"\nrecord of {servers} servers named in {length} characters: {len(json.dumps(record))}")
    assert len(json.dumps(record, sort_keys=True)) <= RECORD_BYTES
    assert record["servers"]["FAILED"] == [n for n in names if n in failed]
    started = record["servers"]["STARTED"]
    assert started == [n for n in names if n not in failed][: len(started)]
    assert record["unlisted"] == servers - len(failed) - len(started)
    assert (record["unlisted"] == 0) is (length == 8)
    assert record["trackerError"].endswith("...")


def test_the_record_names_at_most_twenty_tracker_executions_and_counts_them_all() -> None:
    run = report(Outcome.STARTED)
    run.tracker_execution_arns = [f"arn:aws:states:::execution:t:run-{n}" for n in range(25)]

    record = RunRecord.of(run)

    assert record.tracker_execution_arns == run.tracker_execution_arns[:RECORD_TRACKERS] != []
    assert record.tracker_executions == 25
