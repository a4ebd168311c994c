"""The report a run returns: JSON with camelCase keys, and what it says about the run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backup_orchestrator.contract.report import (
    ComplianceReport,
    DeletionReport,
    DrillReport,
    NextTryReport,
    OrphanReport,
    QuotaReport,
    RetainReport,
    RunReport,
    ServerResult,
)
from backup_orchestrator.domain.records import Outcome

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
            "retain": {"asked": 7, "granted": 7},
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
    }
    assert ServerResult(server_name="a", outcome=Outcome.SKIPPED, reason="r").to_json()[
        "retain"
    ] == {"asked": None, "granted": None}


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
